/**
 * The LLM for scripts/container_e2e.sh: the tests' fake OpenAI-compatible server
 * (tests/helpers/fake_llm.ts), run on the host and reachable from the containers.
 *
 *   deno run --allow-net=127.0.0.1,<host>:<port> scripts/container_e2e_fake_llm.ts \
 *     <host> <port> <text model> <vision model>
 *
 * The fake itself listens on 127.0.0.1 only, so a small TCP relay listens on `<host>:<port>`
 * (the script passes the gateway address of the compose network, which containers reach as
 * `host.containers.internal`) and forwards each connection to it. Requests for the text model get
 * `{"intent": "general_note", ...}`, requests for the vision model `{"description", "tags"}`.
 *
 * Output: `fake LLM listening on <host>:<port>` once ready, then one JSON line per chat request
 * (`{"model", "authorization", "images"}`) so the script can check what the worker sent. Stops on
 * SIGTERM or SIGINT.
 */
import { imageUrls, jsonReply, startFakeLlm } from "../tests/helpers/fake_llm.ts";
import type { ChatRequest, RecordedRequest } from "../tests/helpers/fake_llm.ts";

const [host, portText, textModel, visionModel] = Deno.args;
const port = Number(portText);
if (!host || !Number.isInteger(port) || port <= 0 || !textModel || !visionModel) {
  console.error("usage: container_e2e_fake_llm.ts <host> <port> <text model> <vision model>");
  Deno.exit(2);
}

const fake = await startFakeLlm();
let logged = 0;

/** Print the requests received since the last call (the reply function runs after recording). */
function logRequests(): void {
  const requests: RecordedRequest[] = fake.requests;
  for (; logged < requests.length; logged++) {
    const r = requests[logged];
    console.log(JSON.stringify({
      model: r.body.model,
      authorization: r.headers.authorization ?? null,
      images: imageUrls(r.body),
    }));
  }
}

fake.when((r: ChatRequest) => r.model === textModel, () => {
  logRequests();
  return jsonReply({ intent: "general_note", suggested_tags: ["test"] });
});
fake.when((r: ChatRequest) => r.model === visionModel, () => {
  logRequests();
  return jsonReply({ description: "a single pixel", tags: ["pixel", "tiny", "test"] });
});
fake.setDefault(() => {
  logRequests();
  return { status: 400, message: "container e2e fake LLM: unknown model" };
});

/** Copy bytes both ways between a relayed connection and the fake, until either side closes. */
async function relay(client: Deno.TcpConn): Promise<void> {
  let upstream: Deno.TcpConn | undefined;
  try {
    upstream = await Deno.connect({ hostname: "127.0.0.1", port: fake.port });
    await Promise.race([
      client.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(client.writable),
    ]);
  } catch {
    // A side closed or reset: close both below.
  } finally {
    for (const conn of [client, upstream]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  }
}

const listener = Deno.listen({ hostname: host, port });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  listener.close();
  await fake.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);

console.log(`fake LLM listening on ${host}:${port}`);
try {
  for await (const conn of listener) relay(conn);
} catch (err) {
  if (!stopping) throw err;
}
