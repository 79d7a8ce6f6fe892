// Package stage: reading the JSON reports the probes print.

/** The probe's three errors carry their codes and pass `instanceof` (see probe.cjs). */
export function errorsAsExpected(errors) {
  const want = {
    badNetwork: "ERR_INVALID_ARGUMENT",
    second: "ERR_ALREADY_CREATED",
    stopped: "ERR_STOPPED",
  };
  return Object.entries(want).every(([key, code]) =>
    errors[key]?.instanceOf && errors[key].code === code
  );
}

/** The backend name a suite runtime name stands for (`node20` -> `node`). */
export function runtimeOf(name) {
  return name.startsWith("node") ? "node" : name;
}

/** The last JSON object line of `output`, or `undefined`. */
export function parseReport(output) {
  for (const line of output.split("\n").reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      return JSON.parse(line);
    } catch {
      // not the report
    }
  }
  return undefined;
}

/** Whether two arrays hold the same items in the same order. */
export function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
