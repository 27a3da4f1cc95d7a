/** The admin page's frame: head, header bar with the job search, banners. */
import type { Child } from "hono/jsx";

/** What every admin view knows about the visitor. */
export interface PageContext {
  /** Whether the core runs without CORE_API_TOKEN (the page is open to anyone who reaches it). */
  open: boolean;
  /** Token the page's POST forms carry. */
  csrf: string;
  /** Whether the visitor holds a session (and so can sign out). */
  signedIn: boolean;
  /** Seconds between self-refreshes; 0 for none. */
  refresh?: number;
}

/** The hidden field every POST form carries. */
export function CsrfField(props: { ctx: PageContext }): Child {
  return <input type="hidden" name="_csrf" value={props.ctx.csrf} />;
}

/** A POST form that is just one button. */
export function ActionButton(
  props: { ctx: PageContext; action: string; label: string; kind?: string; fields?: Child },
): Child {
  return (
    <form class="inline" method="post" action={props.action}>
      <CsrfField ctx={props.ctx} />
      {props.fields}
      <button type="submit" class={props.kind ?? ""}>{props.label}</button>
    </form>
  );
}

/** A whole page. */
export function Layout(
  props: { ctx: PageContext; title: string; children?: Child },
): Child {
  const { ctx } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} - Memori admin</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/admin/assets/admin.css" />
        <script src="/admin/assets/admin.js" defer></script>
      </head>
      <body data-refresh={String(ctx.refresh ?? 0)}>
        <header>
          <a href="/admin">Memori admin</a>
          <span class="spacer"></span>
          <form method="get" action="/admin/jobs">
            <input type="search" name="id" placeholder="job id" aria-label="Find a job by id" />
            <button type="submit">Find job</button>
          </form>
          {ctx.signedIn
            ? (
              <form method="post" action="/admin/logout">
                <CsrfField ctx={ctx} />
                <button type="submit">Sign out</button>
              </form>
            )
            : null}
        </header>
        {ctx.open
          ? (
            <div class="banner" role="status">
              CORE_API_TOKEN is not set: this page, like the API, is open to anyone who can reach
              the core.
            </div>
          )
          : null}
        <main>{props.children}</main>
      </body>
    </html>
  );
}
