/** The sign-in form: the operator exchanges CORE_API_TOKEN for a session cookie. */
import type { Child } from "hono/jsx";
import { Layout, type PageContext } from "./layout.tsx";

/** The sign-in page; `refused` when the last attempt gave a wrong token. */
export function LoginPage(props: { ctx: PageContext; refused?: boolean }): Child {
  return (
    <Layout ctx={props.ctx} title="Sign in">
      <section class="login">
        <h1>Sign in</h1>
        {props.refused ? <p class="notice problem" role="alert">Wrong token.</p> : null}
        <form method="post" action="/admin/login">
          <label for="token">Access token (CORE_API_TOKEN)</label>
          <input id="token" type="password" name="token" autocomplete="current-password" />
          <button type="submit" class="primary">Sign in</button>
        </form>
      </section>
    </Layout>
  );
}
