/**
 * A real squid (Debian's package) on loopback for upstream-proxy tests: a
 * private config in a temp dir (no cache, foreground `-N`), with no
 * authentication, Basic (`basic_ncsa_auth` over an htpasswd file written
 * here), NTLM (`ntlm_fake_auth`: a real NTLM message exchange, any password)
 * or Digest only (a scheme Fluidity does not speak).
 */
import { md5Crypt } from "../../src/agent/proxy_auth.ts";

export type SquidAuth = "none" | "basic" | "ntlm" | "digest";

export interface Squid {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  dir: string;
  /** The access log so far (one line per request, with the user name). */
  accessLog(): Promise<string>;
  close(): Promise<void>;
}

const SQUID = ["/usr/sbin/squid", "/usr/bin/squid"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const LIB = "/usr/lib/squid";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitListening(port: number, proc: Deno.ChildProcess, ms: number): Promise<boolean> {
  let exited = false;
  proc.status.then(() => (exited = true));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !exited) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}

/** Starts squid; `users` are the accounts for Basic and Digest. */
export async function startSquid(
  auth: SquidAuth,
  users: Record<string, string> = {},
): Promise<Squid> {
  if (!SQUID) {
    throw new Error("squid is not installed (apt-get install squid); .ci/run installs it");
  }
  const dir = await Deno.makeTempDir({ prefix: "fluidity-squid-" });
  // Started as root, squid drops to its own user, which must write logs here.
  await Deno.chmod(dir, 0o777);
  const authLines: string[] = [];
  if (auth === "basic") {
    const salt = crypto.randomUUID().replace(/-/g, "").slice(0, 8);
    const lines = Object.entries(users).map(([u, p]) => `${u}:${md5Crypt(p, salt)}`);
    await Deno.writeTextFile(`${dir}/htpasswd`, lines.join("\n") + "\n", { mode: 0o644 });
    authLines.push(
      `auth_param basic program ${LIB}/basic_ncsa_auth ${dir}/htpasswd`,
      "auth_param basic children 2",
      "auth_param basic realm fluidity-test",
    );
  } else if (auth === "ntlm") {
    authLines.push(`auth_param ntlm program ${LIB}/ntlm_fake_auth`, "auth_param ntlm children 2");
  } else if (auth === "digest") {
    const lines = Object.entries(users).map(([u, p]) => `${u}:${p}`);
    await Deno.writeTextFile(`${dir}/digest`, lines.join("\n") + "\n", { mode: 0o644 });
    authLines.push(
      `auth_param digest program ${LIB}/digest_file_auth ${dir}/digest`,
      "auth_param digest children 2",
      "auth_param digest realm fluidity-test",
    );
  }
  const access = auth === "none"
    ? ["http_access allow localhost", "http_access deny all"]
    : ["acl authed proxy_auth REQUIRED", "http_access allow authed", "http_access deny all"];

  for (let attempt = 1;; attempt++) {
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/squid.conf`,
      [
        `http_port 127.0.0.1:${port}`,
        `pid_filename ${dir}/squid.pid`,
        "cache deny all",
        "cache_mem 8 MB",
        `access_log stdio:${dir}/access.log`,
        `cache_log ${dir}/cache.log`,
        "cache_store_log none",
        `coredump_dir ${dir}`,
        "visible_hostname fluidity-test",
        "shutdown_lifetime 0 seconds",
        "pinger_enable off",
        "netdb_filename none",
        "dns_nameservers 127.0.0.1",
        ...authLines,
        ...access,
      ].join("\n") + "\n",
      { mode: 0o644 },
    );
    const proc = new Deno.Command(SQUID, {
      args: ["-N", "-f", `${dir}/squid.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    if (await waitListening(port, proc, 20_000)) {
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        dir,
        accessLog: () => Deno.readTextFile(`${dir}/access.log`).catch(() => ""),
        async close() {
          try {
            proc.kill("SIGTERM");
          } catch { /* gone */ }
          const t = setTimeout(() => {
            try {
              proc.kill("SIGKILL");
            } catch { /* gone */ }
          }, 5000);
          await proc.status;
          clearTimeout(t);
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        },
      };
    }
    try {
      proc.kill("SIGKILL");
    } catch { /* gone */ }
    await proc.status;
    if (attempt >= 3) {
      const log = await Deno.readTextFile(`${dir}/cache.log`).catch(() => "(no cache.log)");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`squid did not start:\n${log.split("\n").slice(-20).join("\n")}`);
    }
  }
}
