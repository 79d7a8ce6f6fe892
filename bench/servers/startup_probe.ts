// Prints the wall-clock time (epoch ms) at which user code starts running:
// the benchmark spawns it to measure a runtime's own start-up for a .ts file.
import process from "node:process";

console.log(Date.now());
process.exit(0);
