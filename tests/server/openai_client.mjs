// ember serve driven by the official openai npm client: completions and chat,
// streaming and not, errors surfaced as the SDK's typed errors.
// Prints PASS/FAIL lines. Usage: node openai_client.mjs EMBER SHARED
import OpenAI from "openai";
import { spawn, execFileSync } from "node:child_process";

const [EMBER, SHARED] = process.argv.slice(2);
const MODEL = `${SHARED}/models/stories260K.gguf`;
let failures = 0;
const check = (name, ok, detail) => {
  console.log(`${ok ? "PASS" : "FAIL"} ${name}`);
  if (!ok) { failures++; console.error(`  ${name}: ${JSON.stringify(detail)}`); }
};

const srv = spawn(EMBER, ["serve", "-m", MODEL, "--port", "0", "--parallel", "4", "-t", "2", "--api-key", "k-test"],
                  { stdio: ["ignore", "ignore", "pipe"] });
const port = await new Promise((resolve, reject) => {
  let log = "";
  srv.stderr.on("data", (d) => {
    log += d;
    const m = log.match(/listening on http:\/\/[0-9.]+:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  srv.on("exit", () => reject(new Error("server exited: " + log)));
  setTimeout(() => reject(new Error("server did not start: " + log)), 30000);
});

const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "k-test", maxRetries: 0 });
const prompt = "Tom had a red ball. He liked to";
const ref = JSON.parse(execFileSync(EMBER, ["run", "-m", MODEL, "-p", prompt, "-n", "24", "--temp", "0", "--json", "-t", "2"],
                                    { stdio: ["ignore", "pipe", "ignore"] }).toString());
try {
  const models = await client.models.list();
  check("npm_models_list", models.data.length === 1 && models.data[0].object === "model", models.data);

  const c = await client.completions.create({ model: "m", prompt, max_tokens: 24, temperature: 0 });
  check("npm_completion_equals_ember_run", c.choices[0].text === ref.text && c.usage.completion_tokens === 24, c);

  const stream = await client.completions.create({ model: "m", prompt, max_tokens: 24, temperature: 0, stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
  check("npm_completion_stream", text === ref.text, text);

  const messages = [{ role: "system", content: "You tell stories." }, { role: "user", content: "A story about a cat." }];
  const chat = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0 });
  check("npm_chat", chat.choices[0].message.role === "assistant" && chat.usage.completion_tokens === 16, chat);

  const cs = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0, stream: true,
                                                    stream_options: { include_usage: true } });
  let ctext = "", usage = null, finish = null;
  for await (const chunk of cs) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices[0]) {
      ctext += chunk.choices[0].delta?.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
    }
  }
  check("npm_chat_stream", ctext === chat.choices[0].message.content && usage?.completion_tokens === 16 && finish === "length",
        { ctext, usage, finish });

  const sampled = await Promise.all([1, 2].map(() => client.chat.completions.create(
    { model: "m", messages, max_tokens: 16, temperature: 0.9, top_p: 0.9, seed: 42 })));
  check("npm_seeded_sampling_repeats", sampled[0].choices[0].message.content === sampled[1].choices[0].message.content, sampled);

  let err = null;
  try { await client.completions.create({ model: "m", prompt, max_tokens: 0 }); } catch (e) { err = e; }
  check("npm_bad_request_error", err instanceof OpenAI.BadRequestError && err.status === 400 && err.param === "max_tokens", String(err));

  const bad = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "nope", maxRetries: 0 });
  err = null;
  try { await bad.models.list(); } catch (e) { err = e; }
  check("npm_auth_error", err instanceof OpenAI.AuthenticationError && err.status === 401, String(err));
} catch (e) {
  check("npm_client_run", false, String(e && e.stack || e));
} finally {
  srv.kill("SIGTERM");
}
process.exitCode = failures ? 1 : 0;
