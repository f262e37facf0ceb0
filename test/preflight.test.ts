/**
 * `npm test` on a machine without the Debian packages: .ci/preflight.sh either installs them (as
 * root) or stops at once with the one command that does. dpkg, id and apt-get are stand-ins on
 * PATH, so nothing is installed for real.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, tempDir } from './helpers';

const SCRIPT = path.join(ROOT, '.ci', 'preflight.sh');

function fakeSystem(installed: string[], uid: number): { env: NodeJS.ProcessEnv; aptLog: string } {
  const dir = tempDir('ap-preflight-');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const list = path.join(dir, 'installed');
  const aptLog = path.join(dir, 'apt.log');
  fs.writeFileSync(list, installed.join('\n') + '\n');
  const script = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  script('dpkg', `[ "$1" = -s ] && grep -qx "$2" "${list}"`);
  script('id', `echo ${uid}`);
  script('apt-get', `echo "$*" >> "${aptLog}"; if [ "$1" = install ]; then for a in "$@"; do case "$a" in -*|install) ;; *) echo "$a" >> "${list}";; esac; done; fi`);
  return { env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` }, aptLog };
}

const PACKAGES = ['build-essential', 'python3', 'python3-pil', 'chromium', 'ripgrep', 'pkg-config', 'libkrb5-dev', 'libx11-dev', 'libxkbfile-dev', 'libsecret-1-dev'];

describe('.ci/preflight.sh (npm test’s first step)', () => {
  it('as a user without the packages: stops at once with the one command that installs them', () => {
    const { env, aptLog } = fakeSystem(PACKAGES.filter((p) => p !== 'chromium' && p !== 'libsecret-1-dev'), 1000);
    const r = spawnSync('bash', [SCRIPT], { env, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /missing Debian packages: chromium libsecret-1-dev/);
    assert.match(r.stderr, /^ {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium libsecret-1-dev$/m);
    assert.ok(!fs.existsSync(aptLog), 'nothing installed');
  });

  it('as root: installs what is missing, then passes', () => {
    const { env, aptLog } = fakeSystem(PACKAGES.filter((p) => p !== 'ripgrep'), 0);
    const r = spawnSync('bash', [SCRIPT], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readFileSync(aptLog, 'utf8').trim().split('\n'), ['update -qq', 'install -y --no-install-recommends ripgrep -qq']);
  });

  it('with everything installed: passes silently; --fixtures also wants torch and onnx', () => {
    const { env } = fakeSystem(PACKAGES, 1000);
    const ok = spawnSync('bash', [SCRIPT], { env, encoding: 'utf8' });
    assert.equal(ok.status, 0);
    assert.equal(ok.stderr, '');
    const fixtures = spawnSync('bash', [SCRIPT, '--fixtures'], { env, encoding: 'utf8' });
    assert.equal(fixtures.status, 1);
    assert.match(fixtures.stderr, /missing Debian packages: python3-torch python3-onnx python3-numpy/);
  });

  it('package.json’s test script runs it first', () => {
    const test = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.test as string;
    assert.match(test, /^bash \.ci\/preflight\.sh && /);
  });
});
