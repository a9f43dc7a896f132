import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import {
  buildAll,
  buildFunctionZip,
  buildLayerZip,
  extractFromTgz,
  FUNCTIONS,
  makeZip,
  sha256,
} from "../scripts/layer.ts";

/** name → unix mode, from the zip's central directory. */
function zipModes(zip: Uint8Array): Record<string, number> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = zip.length - 22;
  while (eocd >= 0 && view.getUint32(eocd, true) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, "end of central directory found");
  const count = view.getUint16(eocd + 10, true);
  let off = view.getUint32(eocd + 16, true);
  const modes: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    assert.equal(view.getUint32(off, true), 0x02014b50);
    const nameLen = view.getUint16(off + 28, true);
    const extraLen = view.getUint16(off + 30, true);
    const commentLen = view.getUint16(off + 32, true);
    const attrs = view.getUint32(off + 38, true);
    const name = new TextDecoder().decode(zip.subarray(off + 46, off + 46 + nameLen));
    modes[name] = (attrs >>> 16) & 0o7777;
    off += 46 + nameLen + extraLen + commentLen;
  }
  return modes;
}

Deno.test("makeZip() is deterministic, order-independent and keeps unix modes", () => {
  const a = { name: "b/x.txt", data: new TextEncoder().encode("hello") };
  const b = { name: "a.sh", data: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o755 };
  const one = makeZip([a, b]);
  const two = makeZip([b, a]);
  assert.deepEqual(one, two);
  assert.deepEqual(zipModes(one), { "a.sh": 0o755, "b/x.txt": 0o644 });
  const files = unzipSync(one);
  assert.equal(new TextDecoder().decode(files["b/x.txt"]), "hello");
  assert.throws(() => makeZip([a, a]), /Duplicate zip entry/);
});

Deno.test("extractFromTgz() reads one file out of an npm-pack style archive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-tgz-" });
  try {
    await Deno.mkdir(`${dir}/package`);
    await Deno.writeTextFile(`${dir}/package/package.json`, "{}");
    await Deno.writeTextFile(`${dir}/package/deno`, "stand-in binary");
    const tar = await new Deno.Command("tar", {
      args: ["czf", "pkg.tgz", "package"],
      cwd: dir,
    }).output();
    assert.ok(tar.success);
    const tgz = await Deno.readFile(`${dir}/pkg.tgz`);
    assert.equal(new TextDecoder().decode(extractFromTgz(tgz, "package/deno")), "stand-in binary");
    assert.throws(() => extractFromTgz(tgz, "package/missing"), /not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("function zips are reproducible: two builds (one in another time zone) give the same bytes", async () => {
  const first: Record<string, string> = {};
  for (const fn of FUNCTIONS) {
    const zip = await buildFunctionZip(fn);
    first[`${fn}.zip`] = await sha256(zip);
    const files = unzipSync(zip);
    assert.deepEqual(Object.keys(files), [`${fn}.js`], "one bundled file per function");
    const js = new TextDecoder().decode(files[`${fn}.js`]);
    assert.ok(/export\s*\{[^}]*\bhandler\b/.test(js), `${fn}.js exports handler`);
    assert.ok(!/from\s+"(npm|jsr|https?):/.test(js), `${fn}.js imports nothing remote`);
  }
  // Second build: the CLI, in a subprocess, under a far-away time zone.
  const out = await Deno.makeTempDir({ prefix: "fluidity-dist-" });
  try {
    const res = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/layer.ts", "--functions-only", "--out", out],
      cwd: new URL("../", import.meta.url),
      env: { TZ: "Pacific/Kiritimati", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(res.success, new TextDecoder().decode(res.stderr));
    const second: Record<string, string> = {};
    for (const line of (await Deno.readTextFile(`${out}/SHA256SUMS`)).trim().split("\n")) {
      const [hash, name] = line.split(/\s+/);
      second[name!] = hash!;
    }
    assert.deepEqual(second, first);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("layer zip (stand-in deno binary) is reproducible with bootstrap and bin/deno executable", async () => {
  // A small stand-in: packing the real 95 MB binary at level 9 takes ~25 s per build.
  const standIn = new TextEncoder().encode("#!/bin/sh\necho stand-in deno\n");
  const one = await buildLayerZip(standIn);
  const two = await buildLayerZip(standIn);
  assert.equal(await sha256(one), await sha256(two));
  assert.deepEqual(zipModes(one), { "bin/deno": 0o755, "bootstrap": 0o755, "runtime.js": 0o644 });
  const files = unzipSync(one);
  assert.deepEqual(files["bin/deno"], standIn);
  const bootstrap = new TextDecoder().decode(files["bootstrap"]);
  assert.match(bootstrap, /^#!\/bin\/sh\n/);
  assert.match(bootstrap, /"\$layer_dir\/bin\/deno" run/);
  assert.match(bootstrap, /"\$layer_dir\/runtime\.js"/);
});

Deno.test("buildAll() writes SHA256SUMS matching the files", async () => {
  const out = await Deno.makeTempDir({ prefix: "fluidity-dist-" });
  try {
    const stand = `${out}/fake-deno`;
    await Deno.writeTextFile(stand, "stand-in");
    const sums = await buildAll({ outDir: out, denoBinary: stand, log: () => {} });
    assert.deepEqual(Object.keys(sums).sort(), [
      "kill.zip",
      "layer.zip",
      "query.zip",
      "sleep.zip",
      "wake.zip",
    ]);
    for (const [name, hash] of Object.entries(sums)) {
      assert.equal(await sha256(await Deno.readFile(`${out}/${name}`)), hash);
    }
    const listed = await Deno.readTextFile(`${out}/SHA256SUMS`);
    assert.equal(listed.trim().split("\n").length, 5);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
