/**
 * The fault-injection run (bench/faults.ts) in short: 100 jobs of every type through
 * `deno task core`, two `deno task worker` processes, a redis-server with its append-only file,
 * and the fake model, while workers are SIGKILLed mid-job and replaced, redis-server and the core
 * are SIGKILLed and restarted, and the model fails 30% of calls and answers garbage for a marked
 * tenth of the jobs. Asserts correctness only (nothing lost, nothing twice), never speed.
 */
import assert from "node:assert/strict";
import { formatCounts, runFaults } from "../../bench/faults.ts";

// No shared Redis here: the sanitizers go on directly.
Deno.test.sanitizer({ ops: true, resources: true });

Deno.test(
  "100 jobs under worker kills, redis and core restarts and model failures: none lost, none twice",
  async () => {
    const lines: string[] = [];
    const report = await runFaults({
      jobs: 100,
      workers: 2,
      concurrency: 4,
      workerKills: 3,
      redisRestarts: 1,
      coreRestarts: 1,
      failRate: 0.3,
      submitMs: 12_000,
      deadlineMs: 50_000,
      log: (line) => lines.push(line),
    });
    const c = report.counts;
    const context = `${formatCounts(c)}\n${lines.join("\n")}`;
    assert.deepEqual(report.problems, [], context);
    assert.equal(c.jobs, 100);
    assert.equal(c.jobRows, 100);
    assert.equal(c.marked, 10);
    assert.equal(c.completed, 90, context);
    assert.equal(c.failed, 10, context);
    assert.equal(c.markedFailedReadably, 10);
    assert.equal(c.queued + c.processing, 0);
    assert.equal(c.memoriesFound, c.memoriesExpected);
    assert.equal(c.eventsFound, c.eventsExpected);
    assert.equal(c.tagProblems, 0);
    assert.equal(c.notificationsFound, 100);
    assert.equal(c.notificationDuplicates + c.notificationsMissing + c.notificationsUnexpected, 0);
    assert.equal(c.deadLetters, 10);
    assert.equal(c.pendingEntries, 0);
    // The faults really happened.
    assert.equal(c.faults.workerKills, 3);
    assert.equal(c.faults.redisRestarts, 1);
    assert.equal(c.faults.coreRestarts, 1);
    assert.ok(c.faults.model5xx + c.faults.modelTimeouts > 0);
  },
);
