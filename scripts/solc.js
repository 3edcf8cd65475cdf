#!/usr/bin/env node
// Command-line adapter over the official solc WebAssembly build (npm package `solc`, pinned in
// package.json), so that py-solc-x (`solc_binary=`) and forge (`solc = ...` in foundry.toml) can both
// compile offline with exactly that compiler. It answers the two calls they make:
//   solc --version                       -> "Version: 0.8.x+commit..." on stdout
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths ...] < input.json
// stdout carries only the JSON output; anything else goes to stderr.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--version': case '-v': opts.version = true; break;
      case '--standard-json': opts.standardJson = true; break;
      case '--base-path': opts.basePath = value(); break;
      case '--include-path': opts.includePaths.push(value()); break;
      case '--allow-paths': value(); break; // the WebAssembly build reads only through our callback
      case '--no-import-callback': break;
      default:
        if (flag.startsWith('-')) {
          process.stderr.write(`solc adapter: unsupported option ${flag}; only --version and --standard-json are served\n`);
          process.exit(2);
        }
    }
  }
  return opts;
}

function importResolver(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      } catch (_) { /* try the next root */ }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(', ')})` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc adapter: pass --version or --standard-json (input JSON on stdin)\n');
    process.exit(2);
  }
  const input = fs.readFileSync(0, 'utf8');
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths].map((p) => path.resolve(p));
  const output = solc.compile(input, { import: importResolver(roots) });
  process.stdout.write(output);
}

main();
