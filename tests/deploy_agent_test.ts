/**
 * The agent.yaml that `fluidity deploy up` writes really runs an agent: the
 * deployment is simulated (in-memory AWS behind aws-sdk-client-mock), then a
 * local control plane (real `fluidity server` child, started with the
 * certificates deploy issued) stands in for API Gateway + Lambda. Only the
 * lifecycle URL and API key in that agent.yaml are swapped for the local
 * ones; a real `fluidity agent` process wakes the server through it, and a
 * request through the proxy reaches an origin.
 *
 * Also: the real `fluidity deploy up` binary path, without AWS credentials,
 * exits 2 with a clear message.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { API_KEY_VALUE, FakeAws, REGION } from "../src/deploy/_fake_aws.ts";
import { deployWorkspace, runDeploy } from "../src/deploy/_test_setup.ts";
import { startControlPlane } from "../src/lifecycle/control_plane.ts";
import { createLocalProvider } from "../src/lifecycle/local_provider.ts";
import { fluidityCommand } from "../src/lifecycle/self_command.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { startHttpOrigin } from "./helpers/origins.ts";
import { spawnFluidity } from "./helpers/procs.ts";

const LOCAL_KEY = "local-control-plane-key-for-the-deploy-test";

Deno.test("deploy up writes an agent.yaml that runs a real agent against a lifecycle API", async () => {
  const aws = new FakeAws();
  const ws = await deployWorkspace();
  const logger = memoryLogger();
  const origin = await startHttpOrigin();
  let provider: ReturnType<typeof createLocalProvider> | undefined;
  let cp: Awaited<ReturnType<typeof startControlPlane>> | undefined;
  let agent: ReturnType<typeof spawnFluidity> | undefined;
  try {
    const up = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(up.code, 0, up.all);
    const written = await Deno.readTextFile(ws.agentConfigPath);
    const apiUrl = `https://a1b2c3d4e5.execute-api.${REGION}.amazonaws.com/prod`;

    // The lifecycle API, served locally from the certificates deploy created.
    provider = createLocalProvider({
      command: (args) => fluidityCommand(args),
      certsDir: ws.certsDir,
      logger,
    });
    cp = await startControlPlane({
      listen: "127.0.0.1:0",
      apiKey: LOCAL_KEY,
      provider,
      logger,
      sleepIntervalMs: 0,
    });

    // Swap exactly the URL and the key; everything else is the file as deploy wrote it.
    assert.equal(written.split(apiUrl).length, 2, "the API URL appears once");
    assert.equal(written.split(API_KEY_VALUE).length, 2, "the API key appears once");
    const local = join(ws.dir, "agent-local.yaml");
    await Deno.writeTextFile(
      local,
      written.replace(apiUrl, cp.url).replace(API_KEY_VALUE, LOCAL_KEY),
      { mode: 0o600 },
    );

    agent = spawnFluidity(["agent", "--config", local, "--listen", "127.0.0.1:0"], {
      cwd: ws.dir,
    });
    const ready = await agent.waitFor(/proxy listening on (\S+)/, 60_000, "stdout");
    await agent.waitFor(/tunnel up/, 60_000, "stderr");
    const client = Deno.createHttpClient({ proxy: { url: `http://${ready[1]}` } });
    try {
      const res = await fetch(`${origin.url}/echo?via=deployed-agent-yaml`, { client });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.method, "GET");
      assert.match(body.path, /via=deployed-agent-yaml/);
    } finally {
      client.close();
    }
    // The agent woke the server through the lifecycle API (no static server).
    assert.equal((await provider.locate()).status, "running");
    const status = await agent.stop("SIGTERM");
    assert.equal(status.code, 0, agent.stderr.join("\n"));
    const logs = agent.stderr.join("\n");
    assert.ok(!logs.includes(LOCAL_KEY), "the API key is never logged");
    assert.ok(!/PRIVATE KEY/.test(logs), "no private key in the logs");
  } finally {
    await agent?.stop("SIGKILL", 1000);
    await cp?.close();
    await provider?.close();
    await origin.close();
    aws.restore();
    await ws.cleanup();
  }
});

Deno.test("fluidity deploy up without AWS credentials exits 2 and says how to provide them", async () => {
  const home = await Deno.makeTempDir({ prefix: "fluidity-nocreds-" });
  try {
    const p = spawnFluidity([
      "deploy",
      "up",
      "--region",
      "eu-west-1",
      "--image-uri",
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fluidity-server:0.1.0",
      "--allowed-cidr",
      "198.51.100.7/32",
    ], {
      cwd: home,
      // HOME stays (Deno's module cache lives under it); the AWS files point nowhere.
      env: {
        AWS_CONFIG_FILE: join(home, "none-config"),
        AWS_SHARED_CREDENTIALS_FILE: join(home, "none-credentials"),
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_ACCESS_KEY_ID: "",
        AWS_SECRET_ACCESS_KEY: "",
        AWS_SESSION_TOKEN: "",
        AWS_PROFILE: "",
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "",
        AWS_CONTAINER_CREDENTIALS_FULL_URI: "",
        AWS_WEB_IDENTITY_TOKEN_FILE: "",
      },
    });
    const status = await p.status;
    assert.equal(status.code, 2, p.stderr.join("\n"));
    assert.match(p.stderr.join("\n"), /no AWS credentials found: set AWS_PROFILE/);
    // Nothing local was created before the credentials check.
    const entries = [];
    for await (const e of Deno.readDir(home)) entries.push(e.name);
    assert.deepEqual(entries.filter((n) => n === "certs" || n === "agent.yaml"), []);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
