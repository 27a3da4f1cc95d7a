/** A real core app served over real HTTP on a free port, for tests of HTTP clients (the worker). */
import { makeCore, type MakeCoreOptions, type TestCore } from "./core_app.ts";

/** What {@linkcode startCoreServer} gives a test. */
export interface CoreServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  /** The app and its parts (db, redis, image dir). */
  core: TestCore;
  /** Stop serving and close the core. */
  close(): Promise<void>;
}

/** Build a core with {@linkcode makeCore} and serve it on 127.0.0.1 on a free port. */
export async function startCoreServer(options: MakeCoreOptions = {}): Promise<CoreServer> {
  const core = await makeCore(options);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    core.app.fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const close = async () => {
    await server.shutdown();
    await core.close();
  };
  return { url, core, close, [Symbol.asyncDispose]: close };
}
