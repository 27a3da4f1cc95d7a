/**
 * `.env.example` and scripts/serve.sh against shared/config.ts, the one list of what each
 * service reads: a variable added to the config but not documented, or not let through
 * `--allow-env`, fails here rather than in a container.
 */
import assert from "node:assert/strict";
import {
  CORE_ENV_VARS,
  loadCoreConfig,
  loadWorkerConfig,
  WORKER_ENV_VARS,
} from "../../shared/config.ts";

// Nothing here touches Redis: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

const root = new URL("../../", import.meta.url);
const envExample = await Deno.readTextFile(new URL(".env.example", root));
// The script without its comments, which mention flags and `${VAR:-default}` in prose.
const serveSh = (await Deno.readTextFile(new URL("scripts/serve.sh", root)))
  .split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n");

/** `NAME=value` lines of an env file, in order (comments and blank lines skipped). */
function envLines(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/);
    if (m) out.push([m[1], m[2]]);
  }
  return out;
}

/**
 * The names `sh scripts/serve.sh <service>` lets the service read: its `--allow-env` list, read
 * from the command the script prints with SERVE_PRINT=1 instead of running it.
 */
async function allowEnvList(service: string): Promise<string[]> {
  const out = await new Deno.Command("sh", {
    args: [new URL("scripts/serve.sh", root).pathname, service],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", SERVE_PRINT: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const flags = new TextDecoder().decode(out.stdout).split("\n")
    .filter((a) => a.startsWith("--allow-env="));
  assert.equal(flags.length, 1, `${service}: one --allow-env`);
  return flags[0].slice("--allow-env=".length).split(",");
}

const allVars = [...new Set([...CORE_ENV_VARS, ...WORKER_ENV_VARS])];

Deno.test(".env.example sets every variable the services read, and nothing else", () => {
  const names = envLines(envExample).map(([name]) => name);
  const missing = allVars.filter((n) => !names.includes(n));
  const unknown = names.filter((n) => !allVars.includes(n));
  assert.deepEqual(missing, [], "variables the services read but .env.example lacks");
  assert.deepEqual(unknown, [], "variables in .env.example that no service reads");
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  assert.deepEqual(repeated, [], "variables set twice in .env.example");
});

Deno.test(".env.example has the Core, Redis and LLM Worker groups, each variable commented", () => {
  const lines = envExample.split("\n");
  const header = (title: string) =>
    lines.findIndex((l, i) => l === `# ${title}` && /^# =+$/.test(lines[i - 1] ?? ""));
  const core = header("Core");
  const redis = header("Redis");
  const worker = header("LLM Worker");
  assert.ok(core >= 0 && redis > core && worker > redis, "groups Core, Redis, LLM Worker in order");
  const lineOf = (name: string) => lines.findIndex((l) => l.startsWith(`${name}=`));
  assert.ok(lineOf("CORE_PORT") > core && lineOf("CORE_PORT") < redis);
  assert.ok(lineOf("DATABASE_PATH") > core && lineOf("DATABASE_PATH") < redis);
  assert.ok(lineOf("REDIS_URL") > redis && lineOf("REDIS_URL") < worker);
  assert.ok(lineOf("LLM_BASE_URL") > worker && lineOf("WORKER_CONCURRENCY") > worker);
  // Every variable sits under a comment block (its own or its group's) that states a default.
  for (const name of allVars) {
    let i = lineOf(name) - 1;
    while (i >= 0 && !lines[i].startsWith("#")) i--;
    let comment = "";
    while (i >= 0 && lines[i].startsWith("#") && !/^# =+$/.test(lines[i])) {
      comment = `${lines[i]}\n${comment}`;
      i--;
    }
    assert.match(comment, /Default/, `${name} has no comment giving its default`);
  }
});

Deno.test(".env.example's LLM section is the one the design note gives", () => {
  assert.ok(
    envExample.includes(
      [
        "LLM_BASE_URL=http://<llm-server>:8080/v1",
        "LLM_VISION_MODEL=llava",
        "LLM_TEXT_MODEL=mistral",
        "LLM_API_KEY=not-needed",
        "LLM_MAX_RETRIES=5",
      ].join("\n"),
    ),
  );
});

/** `NAME=value` pairs of a Dockerfile's ENV instructions (continuation lines joined). */
function dockerfileEnv(text: string): Record<string, string> {
  const joined = text.replace(/\\\n/g, " ");
  const out: Record<string, string> = {};
  for (const line of joined.split("\n")) {
    const m = line.trim().match(/^ENV\s+(.*)$/);
    if (!m) continue;
    for (const pair of m[1].trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      assert.ok(eq > 0, `ENV ${pair} is not NAME=value`);
      out[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return out;
}

const imageEnv = {
  core: dockerfileEnv(await Deno.readTextFile(new URL("core/Dockerfile", root))),
  worker: dockerfileEnv(await Deno.readTextFile(new URL("llm_worker/Dockerfile", root))),
};

Deno.test(".env.example values are the images' values, else the defaults of shared/config.ts", () => {
  const values = Object.fromEntries(envLines(envExample));
  const expected: Record<string, unknown> = {
    ...loadWorkerConfig({}),
    ...loadCoreConfig({}),
    ...imageEnv.core,
    ...imageEnv.worker,
  };
  for (const [name, value] of Object.entries(values)) {
    // The LLM server has no default that works in compose: the user must name theirs.
    if (name === "LLM_BASE_URL" || value === "") continue;
    assert.equal(value, String(expected[name]), `.env.example's ${name}`);
  }
  // The values that make compose work are the ones named in DESIGN.md; the images set them, since
  // the code's defaults are a workstation's.
  const container = {
    CORE_HOST: "0.0.0.0",
    DATABASE_PATH: "/data/db/life_organiser.db",
    IMAGE_STORAGE_PATH: "/data/images",
    REDIS_URL: "redis://redis:6379",
    CORE_API_URL: "http://core:8000",
  };
  for (const [name, value] of Object.entries(container)) assert.equal(values[name], value, name);
  for (const [service, env] of Object.entries(imageEnv)) {
    const reads = service === "core" ? CORE_ENV_VARS : WORKER_ENV_VARS;
    const local: Record<string, unknown> = service === "core"
      ? loadCoreConfig({})
      : loadWorkerConfig({});
    for (const name of Object.keys(container)) {
      if (!reads.includes(name)) continue;
      assert.equal(env[name], values[name], `${service} image sets ${name}`);
      assert.notEqual(local[name], env[name], `${name}: the code's default is the container's`);
    }
    for (const name of Object.keys(env)) assert.ok(reads.includes(name), `${service}: ${name}?`);
  }
});

Deno.test("serve.sh lets each service see exactly the variables shared/config.ts reads", async () => {
  const core = await allowEnvList("core");
  const worker = await allowEnvList("worker");
  // The doctor checks that both services' settings parse, so it reads both lists.
  const doctor = await allowEnvList("doctor");
  // deno task dev reads both services' settings too, and how to show their logs.
  const dev = await allowEnvList("dev");
  assert.deepEqual([...core].sort(), [...CORE_ENV_VARS].sort());
  assert.deepEqual([...worker].sort(), [...WORKER_ENV_VARS].sort());
  assert.deepEqual([...doctor].sort(), [...allVars].sort());
  assert.deepEqual([...dev].sort(), [...allVars, "LOG_FORMAT"].sort());
  for (const [name, list] of Object.entries({ core, worker, doctor, dev })) {
    assert.equal(new Set(list).size, list.length, `${name} --allow-env lists a name twice`);
  }
});

Deno.test("serve.sh falls back to the same defaults as shared/config.ts", () => {
  const defaults: Record<string, unknown> = { ...loadWorkerConfig({}), ...loadCoreConfig({}) };
  const uses = [...serveSh.matchAll(/\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}/g)];
  assert.ok(uses.length >= 6, "serve.sh reads its settings as ${NAME:-default}");
  for (const [, name, fallback] of uses) {
    assert.ok(name in defaults, `serve.sh reads ${name}, which shared/config.ts does not know`);
    assert.equal(fallback, String(defaults[name]), `default of ${name}`);
  }
});

Deno.test("README's configuration table lists every variable with its service and default", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const rows = new Map<string, { services: string; fallback: string | undefined }>();
  // A variable without a default (optional, e.g. CORE_API_TOKEN) shows "(unset)".
  const row = /^\|\s*`([A-Z_][A-Z0-9_]*)`\s*\|([^|]+)\|\s*(?:`([^`]*)`|\(unset\))\s*\|/gm;
  for (const m of readme.matchAll(row)) {
    rows.set(m[1], { services: m[2].trim(), fallback: m[3] });
  }
  assert.deepEqual([...rows.keys()].sort(), [...allVars].sort());
  const defaults: Record<string, unknown> = { ...loadWorkerConfig({}), ...loadCoreConfig({}) };
  for (const [name, row] of rows) {
    const fallback = defaults[name] === undefined ? undefined : String(defaults[name]);
    assert.equal(row.fallback, fallback, `README default of ${name}`);
    const expected = [
      CORE_ENV_VARS.includes(name) ? "core" : "",
      WORKER_ENV_VARS.includes(name) ? "worker" : "",
    ].filter(Boolean).join(", ");
    assert.equal(row.services, expected, `README service of ${name}`);
  }
  // It starts with the two commands (after the install line of each prerequisite): the whole
  // system and the whole test suite, as CI runs it.
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.match(blocks[0], /^npm install -g deno\b/m);
  assert.match(blocks[0], /^apt-get install redis-server\b/m);
  assert.match(blocks[1], /^deno task dev\b/m);
  assert.match(blocks[1], /^deno task test\b/m);
  assert.equal(blocks[1].trim().split("\n").length, 2, "the quick start is two commands");
  assert.ok(readme.indexOf("```sh") < readme.indexOf("## Architecture"), "quick start comes first");
});
