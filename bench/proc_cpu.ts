/** user+sys CPU of a process in ms, from /proc (Linux; CLK_TCK = 100); 0 if it is gone. */
export function cpuMs(pid: number | "self" = "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}
