/**
 * docker-compose.yml, the two Dockerfiles and .dockerignore, read as data: the promises of the
 * deployment (volumes, healthchecks, start order, scaling, non-root images that start offline and
 * run the same tasks as developers) are checked here, without a container engine.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const root = new URL("../../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);

async function readRepoFile(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, root));
}

// deno-lint-ignore no-explicit-any
const compose: any = parse(await readRepoFile("docker-compose.yml"));

/** One Dockerfile instruction with continuation lines joined. */
interface Instruction {
  /** Upper-case keyword, e.g. `RUN`. */
  op: string;
  /** Everything after the keyword. */
  args: string;
}

/** Instructions of a Dockerfile, comments and blank lines dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!pending && (line === "" || line.startsWith("#"))) continue;
    if (pending && line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1).trim() + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = full.match(/^(\S+)\s*(.*)$/);
    if (m) out.push({ op: m[1].toUpperCase(), args: m[2] });
  }
  assert.equal(pending, "", "Dockerfile ends inside a continued line");
  return out;
}

/** The argument list of an exec-form (JSON array) instruction. */
function execForm(args: string): string[] {
  const parsed = JSON.parse(args);
  assert.ok(Array.isArray(parsed), `not exec form: ${args}`);
  return parsed;
}

const dockerfiles = {
  core: parseDockerfile(await readRepoFile("core/Dockerfile")),
  worker: parseDockerfile(await readRepoFile("llm_worker/Dockerfile")),
};
const entryPoint = { core: "core/main.ts", worker: "llm_worker/main.ts" };
const serviceDir = { core: "core/", worker: "llm_worker/" };

/** The Deno version CI installs (`npm install -g deno@X` in .ci/run). */
async function ciDenoVersion(): Promise<string> {
  const m = (await readRepoFile(".ci/run")).match(/npm install -g deno@(\d+\.\d+\.\d+)/);
  assert.ok(m, ".ci/run installs a pinned deno");
  return m[1];
}

Deno.test("compose defines redis, core and llm-worker with named volumes", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["core", "llm-worker", "redis"]);
  assert.deepEqual(Object.keys(compose.volumes).sort(), ["db-data", "image-data", "redis-data"]);
});

Deno.test("compose: redis keeps an append-only file on its volume and has a healthcheck", () => {
  const redis = compose.services.redis;
  assert.equal(redis.image, "redis:7-alpine");
  const command = Array.isArray(redis.command) ? redis.command.join(" ") : redis.command;
  assert.match(command, /--appendonly yes/);
  assert.deepEqual(redis.volumes, ["redis-data:/data"]);
  assert.deepEqual(redis.healthcheck.test, ["CMD", "redis-cli", "ping"]);
});

Deno.test("compose: core builds its Dockerfile, owns both volumes, waits for redis", () => {
  const core = compose.services.core;
  assert.deepEqual(core.build, { context: ".", dockerfile: "core/Dockerfile" });
  assert.deepEqual([...core.volumes].sort(), ["db-data:/data/db", "image-data:/data/images"]);
  assert.deepEqual(core.ports, ["${CORE_PORT:-8000}:8000"]);
  assert.deepEqual(core.depends_on, { redis: { condition: "service_healthy" } });
  assert.equal(core.env_file, ".env");
  // The port mapping, the healthcheck and the volume paths rely on these inside the container.
  assert.equal(String(core.environment.CORE_PORT), "8000");
  assert.equal(core.environment.CORE_HOST, "0.0.0.0");
  assert.equal(core.environment.DATABASE_PATH, "/data/db/life_organiser.db");
  assert.equal(core.environment.IMAGE_STORAGE_PATH, "/data/images");
});

Deno.test("compose: core's healthcheck fetches /health with deno, as the image's does", () => {
  const test: string[] = compose.services.core.healthcheck.test;
  assert.deepEqual(test.slice(0, 3), ["CMD", "deno", "eval"]);
  assert.match(test[3], /fetch\('http:\/\/127\.0\.0\.1:8000\/health'\)/);
  assert.match(test[3], /Deno\.exit\(1\)/);
  const image = dockerfiles.core.find((i) => i.op === "HEALTHCHECK");
  assert.ok(image, "core/Dockerfile has a HEALTHCHECK");
  const cmd = image.args.match(/CMD\s+(\[.*\])\s*$/);
  assert.ok(cmd, "the image's HEALTHCHECK is in exec form");
  assert.deepEqual(["CMD", ...execForm(cmd[1])], test);
});

Deno.test("compose: the worker reads images read-only, waits for healthy core and redis", () => {
  const worker = compose.services["llm-worker"];
  assert.deepEqual(worker.build, { context: ".", dockerfile: "llm_worker/Dockerfile" });
  assert.deepEqual(worker.volumes, ["image-data:/data/images:ro"]);
  assert.deepEqual(worker.depends_on, {
    core: { condition: "service_healthy" },
    redis: { condition: "service_healthy" },
  });
  assert.equal(worker.restart, "unless-stopped");
  assert.equal(worker.env_file, ".env");
  assert.equal(worker.environment.IMAGE_STORAGE_PATH, "/data/images");
});

Deno.test("compose: the worker's healthcheck fetches its /health, as the image's does", () => {
  const worker = compose.services["llm-worker"];
  // The healthcheck's port; fixed, so a WORKER_METRICS_PORT in .env cannot break it.
  assert.equal(String(worker.environment.WORKER_METRICS_PORT), "9100");
  const test: string[] = worker.healthcheck.test;
  assert.deepEqual(test.slice(0, 3), ["CMD", "deno", "eval"]);
  assert.match(test[3], /fetch\('http:\/\/127\.0\.0\.1:9100\/health'\)/);
  assert.match(test[3], /Deno\.exit\(1\)/);
  const image = dockerfiles.worker.find((i) => i.op === "HEALTHCHECK");
  assert.ok(image, "llm_worker/Dockerfile has a HEALTHCHECK");
  const cmd = image.args.match(/CMD\s+(\[.*\])\s*$/);
  assert.ok(cmd, "the image's HEALTHCHECK is in exec form");
  assert.deepEqual(["CMD", ...execForm(cmd[1])], test);
});

Deno.test("compose: nothing pins a worker's identity, so --scale llm-worker=N works", () => {
  const worker = compose.services["llm-worker"];
  assert.equal(worker.container_name, undefined);
  assert.equal(worker.hostname, undefined);
  assert.equal(worker.ports, undefined, "a published port would clash between replicas");
  const env = JSON.stringify(worker.environment ?? {});
  assert.doesNotMatch(env, /CONSUMER/i);
});

for (const service of ["core", "worker"] as const) {
  const file = service === "core" ? "core/Dockerfile" : "llm_worker/Dockerfile";
  const steps = dockerfiles[service];

  Deno.test(`${file}: pinned denoland/deno 2.x, the Deno version CI runs`, async () => {
    const from = steps.filter((i) => i.op === "FROM");
    assert.equal(from.length, 1, "one stage");
    const m = from[0].args.match(/^denoland\/deno:(?:debian-)?(\d+\.\d+\.\d+)$/);
    assert.ok(m, `base image ${from[0].args} is not a pinned denoland/deno (Debian) tag`);
    assert.match(m[1], /^2\./);
    assert.equal(m[1], await ciDenoVersion());
  });

  Deno.test(`${file}: runs as the non-root user deno`, () => {
    const users = steps.filter((i) => i.op === "USER").map((i) => i.args);
    assert.equal(users.at(-1), "deno");
    // Dependencies are cached as that user, so DENO_DIR stays writable for its code cache.
    const firstUser = steps.findIndex((i) => i.op === "USER");
    const install = steps.findIndex((i) => i.op === "RUN" && /deno install/.test(i.args));
    assert.ok(firstUser >= 0 && firstUser < install);
  });

  Deno.test(`${file}: dependencies cached at build time from deno.lock (--frozen)`, () => {
    const runs = steps.filter((i) => i.op === "RUN").map((i) => i.args);
    assert.ok(runs.includes("deno install --frozen"), "RUN deno install --frozen");
    assert.ok(
      runs.includes(`deno cache --frozen ${entryPoint[service]}`),
      `RUN deno cache --frozen ${entryPoint[service]}`,
    );
    const copyLock = steps.findIndex((i) => i.op === "COPY" && /deno\.lock/.test(i.args));
    const install = steps.findIndex((i) => i.op === "RUN" && i.args === "deno install --frozen");
    assert.ok(copyLock >= 0 && copyLock < install, "deno.lock is copied before the install");
  });

  Deno.test(`${file}: CMD is \`deno task ${service}\``, () => {
    const cmd = steps.filter((i) => i.op === "CMD");
    assert.equal(cmd.length, 1);
    assert.deepEqual(execForm(cmd[0].args), ["deno", "task", service]);
    assert.equal(steps.find((i) => i.op === "ENTRYPOINT"), undefined, "keep the image's tini");
  });

  Deno.test(`${file}: copies only what the service needs`, () => {
    const sources = steps.filter((i) => i.op === "COPY").flatMap((i) => {
      assert.doesNotMatch(i.args, /--chown/, "code stays owned by root");
      const parts = i.args.split(/\s+/);
      return parts.slice(0, -1);
    });
    assert.deepEqual(
      [...sources].sort(),
      ["deno.json", "deno.lock", "scripts/serve.sh", "shared/", serviceDir[service]].sort(),
    );
  });

  Deno.test(`${file}: the copied directories hold every module ${entryPoint[service]} loads`, async () => {
    // `deno info --json` walks the real import graph; a local module outside the copied
    // directories would be missing from the image.
    const out = await new Deno.Command("deno", {
      args: ["info", "--json", entryPoint[service]],
      cwd: rootPath,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    const local: string[] = info.modules
      .map((m: { specifier: string }) => m.specifier)
      .filter((s: string) => s.startsWith("file://"))
      .map((s: string) => decodeURIComponent(new URL(s).pathname).slice(rootPath.length));
    assert.ok(local.length > 1);
    const outside = local.filter((p) =>
      !p.startsWith("shared/") && !p.startsWith(serviceDir[service])
    );
    assert.deepEqual(outside, []);
  });
}

Deno.test("core/Dockerfile: the volume mount points exist and belong to deno", () => {
  const runs = dockerfiles.core.filter((i) => i.op === "RUN").map((i) => i.args);
  const mkdir = runs.find((r) => /mkdir -p/.test(r) && /chown/.test(r));
  assert.ok(mkdir, "RUN mkdir -p ... && chown ...");
  assert.match(mkdir, /\/data\/db\b/);
  assert.match(mkdir, /\/data\/images\b/);
  assert.match(mkdir, /chown -R deno:deno \/data\b/);
});

Deno.test(".dockerignore lets in what the Dockerfiles copy and keeps secrets out", async () => {
  const patterns = (await readRepoFile(".dockerignore")).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  assert.equal(patterns[0], "*", "everything is excluded first");
  const allowed = patterns.filter((p) => p.startsWith("!")).map((p) =>
    p.slice(1).replace(/\/$/, "")
  );
  for (const steps of Object.values(dockerfiles)) {
    for (const copy of steps.filter((i) => i.op === "COPY")) {
      for (const src of copy.args.split(/\s+/).slice(0, -1)) {
        const clean = src.replace(/\/$/, "");
        assert.ok(
          allowed.some((a) => clean === a || clean.startsWith(`${a}/`)),
          `COPY ${src} is not let into the build context`,
        );
        await Deno.stat(new URL(src, root));
      }
    }
  }
  assert.ok(!allowed.some((a) => a === ".env" || a.startsWith("tests")));
});
