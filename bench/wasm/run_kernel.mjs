// Node's V8 as the Wasm speed peer: instantiates the kernels module once and times one kernel,
// best of three calls (compile and instantiation are outside the timing, as for berth).
//   node run_kernel.mjs KERNELS.wasm NAME N
import { readFileSync } from "node:fs";

const [file, name, n] = process.argv.slice(2);
const { instance } = await WebAssembly.instantiate(readFileSync(file));
if (instance.exports._initialize) instance.exports._initialize();
let best = Infinity;
let result = 0n;
for (let run = 0; run < 3; ++run) {
  const t0 = process.hrtime.bigint();
  result = instance.exports[name](Number(n));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, seconds);
}
console.log(JSON.stringify({ result: BigInt.asUintN(64, result).toString(), seconds: best }));
