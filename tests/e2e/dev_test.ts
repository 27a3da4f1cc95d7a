/**
 * `deno task dev` as a new user runs it: in a fresh clone, with nothing but Deno and
 * redis-server. It starts a private Redis, the core and the worker, and prints its banner; the
 * README's smoke test goes through (against the fake LLM); SIGINT leaves nothing running; a second
 * start finds the data of the first.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Redis } from "ioredis";
import { NOTIFY_STREAM } from "../../shared/streams.ts";
import { jsonReply, startFakeLlm } from "../helpers/fake_llm.ts";
import { httpOk, REPO_ROOT, spawnTask } from "../helpers/processes.ts";
import { freePort, startRedisServer } from "../helpers/redis_server.ts";
import { tempDir } from "../helpers/fixtures.ts";

// No shared Redis here: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

/** A running `deno task dev`. */
interface DevRun {
  child: Deno.ChildProcess;
  output(): string;
  /** The banner's fields (the JSON line, since stdout is not a terminal). */
  banner: Record<string, unknown>;
  status: Promise<Deno.CommandStatus>;
}

async function startDev(cwd: string, env: Record<string, string>): Promise<DevRun> {
  const child = spawnTask("dev", env, { cwd });
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let done = false;
  const status = child.status.then(async (s) => {
    done = true;
    await drained;
    return s;
  });
  const deadline = Date.now() + 90_000;
  while (true) {
    const line = text.split("\n").find((l) => l.includes('"message":"memori is running"'));
    if (line) return { child, output: () => text, banner: JSON.parse(line), status };
    if (done || Date.now() > deadline) {
      if (!done) child.kill("SIGKILL");
      throw new Error(`no banner from deno task dev; output:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes whose command line mentions `needle` (Linux /proc, read by a shell). */
async function processesMentioning(needle: string): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'for f in /proc/[0-9]*/cmdline; do c=$(tr "\\0" " " < "$f" 2>/dev/null) || continue; ' +
      'case "$c" in *"$1"*) echo "${f%/cmdline}: $c" ;; esac; done',
      "sh",
      needle,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l && !l.includes("tr "));
}

async function portAnswers(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** SIGINT, as Ctrl-C sends it; then nothing it started may be left. */
async function interrupt(run: DevRun, ports: number[], clone: string): Promise<void> {
  run.child.kill("SIGINT");
  const status = await run.status;
  assert.ok(run.output().includes('"message":"stopped"'), run.output());
  assert.equal(status.code, 0, run.output());
  // The worker handed back before the core stopped, and Redis went last.
  const order = ["stopping worker", "stopping core", "stopping redis"].map((m) =>
    run.output().indexOf(`"message":"${m}"`)
  );
  assert.ok(order[0] >= 0 && order[0] < order[1] && order[1] < order[2], run.output());
  for (const port of ports) assert.equal(await portAnswers(port), false, `port ${port} still open`);
  // redis-server renames itself to "redis-server 127.0.0.1:<port>"; the services' command lines
  // name their main module in the clone.
  assert.deepEqual(await processesMentioning(clone), []);
  assert.deepEqual(await processesMentioning(`redis-server 127.0.0.1:${ports[0]}`), []);
}

Deno.test(
  "deno task dev in a fresh clone runs the smoke test, stops on SIGINT, keeps its data",
  async () => {
    await using tmpDir = await tempDir("memori_dev_");
    const tmp = tmpDir.path;
    const clone = join(tmp, "memori");
    await using fake = await startFakeLlm();
    fake.setDefault(jsonReply({ intent: "general_note", suggested_tags: ["test"] }));
    const redisPort = freePort();
    const corePort = freePort();
    const metricsPort = freePort();
    const env = {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      CORE_PORT: String(corePort),
      WORKER_METRICS_PORT: String(metricsPort),
      LLM_BASE_URL: fake.url,
    };
    const ports = [redisPort, corePort, metricsPort];
    const api = `http://127.0.0.1:${corePort}`;
    let run: DevRun | undefined;
    try {
      const cloned = await new Deno.Command("git", {
        args: ["clone", "--quiet", REPO_ROOT, clone],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(cloned.success, new TextDecoder().decode(cloned.stderr));

      run = await startDev(clone, env);
      assert.equal(run.banner.api, api);
      assert.equal(run.banner.docs, `${api}/docs`);
      assert.equal(run.banner.worker_metrics, `http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(run.banner.database, join(clone, "data/db/life_organiser.db"));
      assert.equal(run.banner.redis_dir, join(clone, "data/redis"));
      assert.equal(run.banner.llm_answers, true);

      // The README's smoke test.
      const post = (path: string, body: unknown) =>
        fetch(`${api}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      assert.equal(
        (await (await post("/users", { telegram_user_id: 12345, display_name: "Smoke" }))
          .json()).telegram_user_id,
        12345,
      );
      const created = await (await post("/llm_jobs", {
        job_type: "intent_classify",
        payload: { query: "test" },
        user_id: 12345,
      })).json();
      const deadline = Date.now() + 30_000;
      let job;
      do {
        await new Promise((r) => setTimeout(r, 100));
        job = await (await fetch(`${api}/llm_jobs/${created.id}`)).json();
      } while (job.status !== "completed" && job.status !== "failed" && Date.now() < deadline);
      assert.equal(job.status, "completed", `${JSON.stringify(job)}\n${run.output()}`);
      const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1 });
      const notes = await redis.xrange(NOTIFY_STREAM, "-", "+");
      redis.disconnect();
      assert.ok(notes.some(([, f]) => f[1].includes('"llm_intent_result"')), JSON.stringify(notes));
      assert.ok(await httpOk(`${api}/docs`));

      await interrupt(run, ports, clone);

      // A second start uses the same data: the job and its notification are still there.
      run = await startDev(clone, env);
      const again = await (await fetch(`${api}/llm_jobs/${created.id}`)).json();
      assert.equal(again.status, "completed");
      const redis2 = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1 });
      assert.equal((await redis2.xrange(NOTIFY_STREAM, "-", "+")).length, notes.length);
      redis2.disconnect();
      await interrupt(run, ports, clone);
      run = undefined;
    } finally {
      if (run) {
        run.child.kill("SIGTERM");
        await run.status;
      }
    }
  },
);

Deno.test("deno task dev without redis-server says which package to install", async () => {
  // A PATH with what the task needs (deno, sh, setsid, dirname) but no redis-server.
  await using binTmp = await tempDir("memori_dev_bin_");
  const bin = binTmp.path;
  for (const tool of ["deno", "sh", "setsid", "dirname"]) {
    const which = await new Deno.Command("sh", {
      args: ["-c", 'command -v "$1"', "sh", tool],
      stdout: "piped",
    }).output();
    const path = new TextDecoder().decode(which.stdout).trim();
    if (path) await Deno.symlink(path, join(bin, tool));
  }
  const child = new Deno.Command("deno", {
    args: ["task", "dev"],
    cwd: REPO_ROOT,
    clearEnv: true,
    env: {
      PATH: bin,
      HOME: Deno.env.get("HOME") ?? "",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      NO_COLOR: "1",
      REDIS_URL: `redis://127.0.0.1:${freePort()}`,
      CORE_PORT: String(freePort()),
    },
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, text);
  assert.match(
    text,
    /redis-server is not installed: install it \(apt-get install redis-server\)/,
  );
});

Deno.test("deno task dev uses a Redis that already answers, and leaves it running", async () => {
  await using tmpDir = await tempDir("memori_dev_");
  const tmp = tmpDir.path;
  await using redisServer = await startRedisServer();
  await using fake = await startFakeLlm();
  const corePort = freePort();
  let run: DevRun | undefined;
  try {
    run = await startDev(REPO_ROOT, {
      REDIS_URL: redisServer.url,
      CORE_PORT: String(corePort),
      WORKER_METRICS_PORT: String(freePort()),
      LLM_BASE_URL: fake.url,
      // Not the checkout's ./data.
      DATABASE_PATH: join(tmp, "db", "memori.db"),
      IMAGE_STORAGE_PATH: join(tmp, "images"),
    });
    assert.equal(run.banner.redis_dir, null);
    assert.equal(run.banner.database, join(tmp, "db", "memori.db"));
    run.child.kill("SIGINT");
    assert.equal((await run.status).code, 0, run.output());
    run = undefined;
    assert.ok(!(await portAnswers(corePort)));
    assert.ok(await portAnswers(redisServer.port), "the existing Redis was stopped");
  } finally {
    if (run) {
      run.child.kill("SIGTERM");
      await run.status;
    }
  }
});
