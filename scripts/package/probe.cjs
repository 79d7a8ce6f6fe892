// Exercises an installed tableflip package the way a user would, from a scratch
// project (see scripts/stages/20-package.mjs), and returns what it saw. Shared
// by check_require.cjs and the check_import.mjs that the stage writes, so both
// styles get the same checks. CommonJS, so that both kinds of module can load it.
"use strict";

/** Runs the probe against `api` (the package's exports) and returns a report. */
module.exports = async function probe(api, resolved, style) {
  const report = {
    style,
    resolved,
    exports: Object.keys(api).filter((k) => k !== "default" && k !== "module.exports").sort(),
    detected: api.detectRuntime(),
    errors: {},
  };
  // No backend passed: the default one is picked lazily (no import side effect).
  const upg = new api.Upgrader();
  report.backend = upg.runtime;
  const errors = report.errors;
  // Errors thrown deep inside the package must be instances of the classes it exports.
  try {
    await upg.listen("udp", "127.0.0.1:0");
  } catch (error) {
    errors.badNetwork = describe(error, api.TableflipError);
  }
  try {
    new api.Upgrader();
  } catch (error) {
    errors.second = describe(error, api.TableflipError);
  }
  upg.stop();
  try {
    await upg.listen("tcp", "127.0.0.1:0");
  } catch (error) {
    errors.stopped = describe(error, api.StoppedError);
  }
  return report;
};

function describe(error, cls) {
  return {
    code: error && error.code,
    name: error && error.name,
    instanceOf: error instanceof cls,
  };
}
