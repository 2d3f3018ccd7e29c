// Node's V8 as the per-call peer: `new WebAssembly.Instance` + one call of a trivial export, and
// a call on one reused instance; p50/p99 in microseconds over N iterations (after a warm-up).
//   node instantiate_call.mjs MODULE.wasm N
import { readFileSync } from "node:fs";

const [file, n] = [process.argv[2], Number(process.argv[3])];
const module = new WebAssembly.Module(readFileSync(file));
const percentile = (xs, p) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
function time(fn) {
  for (let i = 0; i < 1000; ++i) fn(i);
  const xs = new Array(n);
  for (let i = 0; i < n; ++i) {
    const t0 = process.hrtime.bigint();
    fn(i);
    xs[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return { p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) };
}
const fresh = time((i) => new WebAssembly.Instance(module, {}).exports.add(i, 1));
const reused = new WebAssembly.Instance(module, {});
const pooled = time((i) => reused.exports.add(i, 1));
console.log(JSON.stringify({ fresh, pooled }));
