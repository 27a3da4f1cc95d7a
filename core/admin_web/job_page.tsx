/** One job: its fields, payload, result, error and audit trail, with Retry when it failed. */
import type { Child } from "hono/jsx";
import type { JobRow } from "../store/job_repo.ts";
import { prettyJson } from "./format.ts";
import { ActionButton, Layout, type PageContext } from "./layout.tsx";

/** The job page. `audit` is the job's trail, newest first. */
export function JobPage(
  props: { ctx: PageContext; job: JobRow; audit: Record<string, unknown>[]; notice?: string },
): Child {
  const { ctx, job } = props;
  return (
    <Layout ctx={ctx} title={`Job ${job.id}`}>
      <h1>
        Job <code>{job.id}</code>
      </h1>
      {props.notice ? <p class="notice" role="status">{props.notice}</p> : null}
      <section>
        <table>
          <tbody>
            <tr>
              <th>type</th>
              <td>{job.job_type}</td>
            </tr>
            <tr>
              <th>status</th>
              <td id="job-status">{job.status}</td>
            </tr>
            <tr>
              <th>user</th>
              <td>{job.user_id ?? "-"}</td>
            </tr>
            <tr>
              <th>created</th>
              <td>{job.created_at}</td>
            </tr>
            <tr>
              <th>updated</th>
              <td>{job.updated_at}</td>
            </tr>
            <tr>
              <th>stream entry</th>
              <td>{job.stream_message_id ?? "not published"}</td>
            </tr>
          </tbody>
        </table>
        {job.status === "failed"
          ? (
            <p>
              <ActionButton
                ctx={ctx}
                action={`/admin/actions/jobs/${encodeURIComponent(job.id)}/retry`}
                label="Retry"
                kind="primary"
              />
            </p>
          )
          : null}
      </section>
      <section>
        <h2>Error</h2>
        <pre class="error">{job.error_message ?? "none"}</pre>
        <h2>Payload</h2>
        <pre>{prettyJson(job.payload)}</pre>
        <h2>Result</h2>
        <pre>{prettyJson(job.result)}</pre>
      </section>
      <section id="audit">
        <h2>Audit trail</h2>
        <table>
          <thead>
            <tr>
              <th>when</th>
              <th>action</th>
              <th>actor</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {props.audit.map((a) => (
              <tr>
                <td class="when">{String(a.created_at)}</td>
                <td>{String(a.action)}</td>
                <td>{String(a.actor)}</td>
                <td class="detail">
                  <code>{a.detail === null ? "" : JSON.stringify(a.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </Layout>
  );
}

/** A page saying what went wrong (an action refused, a job not found). */
export function MessagePage(
  props: { ctx: PageContext; title: string; message: string },
): Child {
  return (
    <Layout ctx={props.ctx} title={props.title}>
      <h1>{props.title}</h1>
      <p class="notice problem" role="alert">{props.message}</p>
      <p>
        <a href="/admin">Back to the overview</a>
      </p>
    </Layout>
  );
}
