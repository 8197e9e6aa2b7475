#!/usr/bin/env node
// Validate Teams app manifests with Microsoft's own validator, offline.
//
//   node manifest/validate.mjs FILE...      (FILE "-" reads one manifest from stdin)
//
// Uses AppManifestUtils.validateAgainstSchema from @microsoft/app-manifest (ajv, draft-04), which maps the
// developer.microsoft.com $schema URL to the copy bundled in node_modules. A $schema without a bundled copy
// (e.g. v1.18) is reported as an error here instead of letting the library fetch it from the network.
// Prints one JSON line per file: {"file", "valid", "errors"}. Exit 0 = all valid, 1 = errors, 2 = setup/usage.
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs";
import Module from "node:module";

const require = Module.createRequire(import.meta.url);

// @microsoft/app-manifest 1.1.2 requires "fs-extra" without declaring it as a dependency, so `npm ci` does not
// install it. If it is missing, serve the five functions the package calls (pathExists, readFile, readFileSync,
// writeFile, writeJson) from node:fs; validateAgainstSchema only reads the bundled schema. Adding fs-extra to
// package.json devDependencies makes this fallback unused.
function fsExtraShim() {
  const p = fs.promises;
  return {
    ...fs,
    pathExists: (path) => p.access(path).then(() => true, () => false),
    readFile: (path, options) => p.readFile(path, options),
    writeFile: (path, data, options) => p.writeFile(path, data, options),
    writeJson: (path, obj, options = {}) => p.writeFile(path, JSON.stringify(obj, null, options.spaces) + "\n"),
  };
}

function loadAppManifest() {
  try {
    return require("@microsoft/app-manifest");
  } catch (err) {
    if (err.code !== "MODULE_NOT_FOUND" || !err.message.includes("'fs-extra'")) throw err;
  }
  const key = "\0fs-extra-shim";
  const shim = new Module(key);
  shim.exports = fsExtraShim();
  shim.loaded = true;
  require.cache[key] = shim;
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    try {
      return resolve.call(this, request, ...rest);
    } catch (err) {
      if (request === "fs-extra") return key;
      throw err;
    }
  };
  return require("@microsoft/app-manifest");
}

let AppManifestUtils;
try {
  ({ AppManifestUtils } = loadAppManifest());
} catch (err) {
  console.error(`cannot load @microsoft/app-manifest (${err.code ?? err.message}); run \`npm ci\` in the repository root`);
  process.exit(2);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node manifest/validate.mjs FILE... (- for stdin)");
  process.exit(2);
}

async function check(file) {
  let manifest;
  try {
    const text = readFileSync(file === "-" ? 0 : file, "utf8");
    manifest = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    return [`cannot read JSON: ${err.message}`];
  }
  if (typeof manifest?.$schema !== "string") {
    return ["Manifest does not have a $schema property"];
  }
  const suffix = AppManifestUtils.getLocalSchemaSuffix(manifest.$schema);
  const local = suffix && AppManifestUtils.getLocalSchemaCandidates(suffix).find((p) => existsSync(p));
  if (!local) {
    return [`no bundled schema for $schema ${manifest.$schema} (offline: refusing to fetch it)`];
  }
  try {
    return await AppManifestUtils.validateAgainstSchema(manifest);
  } catch (err) {
    return [`validator failed: ${err.message}`];
  }
}

let failed = false;
for (const file of files) {
  const errors = await check(file);
  failed ||= errors.length > 0;
  console.log(JSON.stringify({ file, valid: errors.length === 0, errors }));
}
process.exit(failed ? 1 : 0);
