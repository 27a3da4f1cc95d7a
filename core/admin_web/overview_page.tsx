/**
 * The main view: jobs by status and type, throughput, streams and their consumers, the model,
 * failed jobs and dead letters with their buttons. Every value is rendered through JSX, which
 * escapes it: error messages and payloads come from users and the model.
 */
import type { Child } from "hono/jsx";
import { JOB_STATUSES, JOB_TYPES } from "../../shared/enums.ts";
import type { ModelStatus } from "../jobs/model_status.ts";
import { ago, duration } from "./format.ts";
import { ActionButton, Layout, type PageContext } from "./layout.tsx";
import { type Overview, PAGE_SIZE } from "./overview_data.ts";

/** A consumer idle this long is probably a dead replica (a live one reads every few seconds). */
const STALE_CONSUMER_MS = 60_000;

/** Link to a job's page. */
function JobLink(props: { id: string | null }): Child {
  if (!props.id) return <span class="muted">-</span>;
  return (
    <a href={`/admin/jobs/${encodeURIComponent(props.id)}`}>
      <code>{props.id}</code>
    </a>
  );
}

function Jobs(props: { o: Overview }): Child {
  const { jobs } = props.o.stats;
  const { activity } = props.o;
  const oldest = activity.oldest_queued_at;
  return (
    <section id="jobs">
      <h2>Jobs</h2>
      <div class="grid">
        {JOB_STATUSES.map((s) => (
          <div class="stat">
            <b>{jobs.by_status[s]}</b>
            {s}
          </div>
        ))}
        <div class="stat">
          <b>{activity.finished_last_hour}</b>finished in the last hour
        </div>
        <div class="stat">
          <b>{activity.finished_last_day}</b>finished in the last day
        </div>
        <div class="stat">
          <b>{oldest ? duration(props.o.now.getTime() - Date.parse(oldest)) : "-"}</b>
          oldest queued job
        </div>
      </div>
      <table>
        <thead>
          <tr>
            <th>type</th>
            {JOB_STATUSES.map((s) => <th key={s} class="num">{s}</th>)}
          </tr>
        </thead>
        <tbody>
          {JOB_TYPES.map((t) => (
            <tr>
              <td>{t}</td>
              {JOB_STATUSES.map((s) => <td key={s} class="num">{jobs.by_type[t][s]}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Streams(props: { o: Overview }): Child {
  const { stats, consumers } = props.o;
  return (
    <section id="streams">
      <h2>Streams</h2>
      {stats.redis.ok ? null : <p class="error">Redis is unavailable: {stats.redis.error}</p>}
      <table>
        <thead>
          <tr>
            <th>stream</th>
            <th class="num">length</th>
            <th class="num">pending</th>
            <th>worker group</th>
          </tr>
        </thead>
        <tbody>
          {stats.streams.map((s) => (
            <tr>
              <td>
                <code>{s.stream}</code>
              </td>
              <td class="num">{s.length ?? "?"}</td>
              <td class="num">{s.pending ?? "?"}</td>
              <td>{s.group_exists === null ? "?" : s.group_exists ? "yes" : "not created yet"}</td>
            </tr>
          ))}
          <tr>
            <td>
              <code>{stats.dead_letter.stream}</code>
            </td>
            <td class="num">{stats.dead_letter.length ?? "?"}</td>
            <td></td>
            <td></td>
          </tr>
        </tbody>
      </table>
      <h2>Consumers (worker replicas)</h2>
      {"error" in consumers
        ? <p class="error">Could not read consumers: {consumers.error}</p>
        : consumers.length === 0
        ? <p class="muted">No worker has joined the group yet.</p>
        : (
          <table>
            <thead>
              <tr>
                <th>stream</th>
                <th>consumer</th>
                <th class="num">pending</th>
                <th class="num">idle</th>
              </tr>
            </thead>
            <tbody>
              {consumers.map((c) => (
                <tr>
                  <td>
                    <code>{c.stream}</code>
                  </td>
                  <td>
                    <code>{c.name}</code>
                  </td>
                  <td class="num">{c.pending}</td>
                  <td class={`num ${c.idle_ms > STALE_CONSUMER_MS ? "stale" : ""}`}>
                    {duration(c.idle_ms)}
                    {c.idle_ms > STALE_CONSUMER_MS ? " (not reading: stopped?)" : ""}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
    </section>
  );
}

/** The model's state as the worker reported it. */
function Model(props: { model: ModelStatus; now: Date }): Child {
  const { model, now } = props;
  return (
    <section id="model">
      <h2>
        Model: <span class={`state-${model.state}`}>{model.state}</span>
      </h2>
      {model.unknown_reason ? <p class="muted">Unknown: {model.unknown_reason}.</p> : null}
      <table>
        <tbody>
          <tr>
            <th>outage since</th>
            <td title={model.outage_since ?? ""}>{ago(model.outage_since, now)}</td>
          </tr>
          <tr>
            <th>last success</th>
            <td title={model.last_success_at ?? ""}>{ago(model.last_success_at, now)}</td>
          </tr>
          <tr>
            <th>last failure</th>
            <td title={model.last_failure_at ?? ""}>{ago(model.last_failure_at, now)}</td>
          </tr>
          <tr>
            <th>last error</th>
            <td class="error">{model.last_error ?? "-"}</td>
          </tr>
          <tr>
            <th>reported</th>
            <td title={model.updated_at ?? ""}>{ago(model.updated_at, now)}</td>
          </tr>
        </tbody>
      </table>
    </section>
  );
}

function Failed(props: { o: Overview; ctx: PageContext }): Child {
  const { o, ctx } = props;
  const rows = o.failed.slice(0, PAGE_SIZE);
  const offset = o.query.failedOffset;
  const types = JOB_TYPES.filter((t) => o.stats.jobs.by_type[t].failed > 0);
  return (
    <section id="failed">
      <h2>Failed jobs ({o.stats.jobs.by_status.failed})</h2>
      {types.length > 0
        ? (
          <p>
            {types.map((t) => (
              <ActionButton
                ctx={ctx}
                action="/admin/actions/retry-failed"
                label={`Retry all failed ${t} (${o.stats.jobs.by_type[t].failed})`}
                fields={<input type="hidden" name="job_type" value={t} />}
              />
            ))}
          </p>
        )
        : null}
      {rows.length === 0 ? <p class="muted">No failed jobs.</p> : (
        <table>
          <thead>
            <tr>
              <th>job</th>
              <th>type</th>
              <th>user</th>
              <th>error</th>
              <th>failed</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {rows.map((j) => (
              <tr data-job-id={j.id}>
                <td>
                  <JobLink id={j.id} />
                </td>
                <td>{j.job_type}</td>
                <td>{j.user_id ?? "-"}</td>
                <td class="error">{j.error_message ?? ""}</td>
                <td title={j.updated_at}>{ago(j.updated_at, o.now)}</td>
                <td class="actions">
                  <ActionButton
                    ctx={ctx}
                    action={`/admin/actions/jobs/${encodeURIComponent(j.id)}/retry`}
                    label="Retry"
                    kind="primary"
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        {offset > 0
          ? <a href={`/admin?failed_offset=${Math.max(0, offset - PAGE_SIZE)}`}>newer</a>
          : null}
        {o.failed.length > PAGE_SIZE
          ? <a href={`/admin?failed_offset=${offset + PAGE_SIZE}`}>older</a>
          : null}
      </div>
    </section>
  );
}

function DeadLetters(props: { o: Overview; ctx: PageContext }): Child {
  const { o, ctx } = props;
  if ("error" in o.deadLetters) {
    return (
      <section id="dead-letters">
        <h2>Dead letters</h2>
        <p class="error">Could not read dead letters: {o.deadLetters.error}</p>
      </section>
    );
  }
  const rows = o.deadLetters.slice(0, PAGE_SIZE);
  const last = rows.at(-1);
  return (
    <section id="dead-letters">
      <h2>Dead letters ({o.stats.dead_letter.length ?? "?"})</h2>
      {rows.length === 0 ? <p class="muted">No dead letters.</p> : (
        <table>
          <thead>
            <tr>
              <th>entry</th>
              <th>reason</th>
              <th>job</th>
              <th>error</th>
              <th>parked</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => {
              const base = `/admin/actions/dead-letters/${encodeURIComponent(d.id)}`;
              return (
                <tr data-entry-id={d.id}>
                  <td>
                    <code>{d.id}</code>
                  </td>
                  <td>{d.reason ?? "-"}</td>
                  <td>
                    <JobLink id={d.job_id} /> {d.job_type ?? ""}
                  </td>
                  <td class="error">{d.error ?? ""}</td>
                  <td title={d.dead_lettered_at ?? ""}>{ago(d.dead_lettered_at, o.now)}</td>
                  <td class="actions">
                    <ActionButton
                      ctx={ctx}
                      action={`${base}/replay`}
                      label="Replay"
                      kind="primary"
                    />
                    <ActionButton
                      ctx={ctx}
                      action={`${base}/delete`}
                      label="Delete"
                      kind="danger"
                    />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <div class="pager">
        {o.query.deadBefore ? <a href="/admin#dead-letters">newest</a> : null}
        {o.deadLetters.length > PAGE_SIZE && last
          ? <a href={`/admin?dl_before=${encodeURIComponent(last.id)}#dead-letters`}>older</a>
          : null}
      </div>
    </section>
  );
}

/** The main admin view; `notice` says what the last action did. */
export function OverviewPage(props: { o: Overview; ctx: PageContext; notice?: string }): Child {
  const { o, ctx } = props;
  return (
    <Layout ctx={ctx} title="Overview">
      <h1>Queue overview</h1>
      {props.notice ? <p class="notice" role="status">{props.notice}</p> : null}
      <p class="muted">
        As of {o.now.toISOString()}; refreshes every {ctx.refresh ?? 0}s.
      </p>
      <Jobs o={o} />
      <div class="cols">
        <Model model={o.model} now={o.now} />
        <Streams o={o} />
      </div>
      <Failed o={o} ctx={ctx} />
      <DeadLetters o={o} ctx={ctx} />
    </Layout>
  );
}
