/**
 * extensionTestsPath entry (the contract @vscode/test-electron uses): runs the mocha suite in the
 * extension host and prints a sentinel line the driver checks, because a crashed extension host
 * would still report exit code 0.
 *
 * A window reload ends this extension host and starts a new one that runs this entry again: the
 * suite's reload test writes a marker (with the results so far) before it reloads, and the new host
 * then runs only the checks after the reload and reports the combined counts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';
import { registerFakeLanguageModels } from './fakeLanguageModels';
import { RELOAD_MARKER, type ReloadMarker } from './reloadMarker';

export function run(): Promise<void> {
  // The fake `test` vendor's models, for the language-model tests (kept for the whole run).
  registerFakeLanguageModels();
  // E2E_GREP (a test-title pattern) runs part of the suite while a change is worked on; the full suite runs otherwise.
  const grep = process.env.E2E_GREP;
  const mocha = new Mocha({ ui: 'tdd', timeout: 120_000, color: false, reporter: 'spec', ...(grep ? { grep } : {}) });
  const marker = fs.existsSync(RELOAD_MARKER()) ? (JSON.parse(fs.readFileSync(RELOAD_MARKER(), 'utf8')) as ReloadMarker) : undefined;
  // The main suite ends with a window reload; the new host runs what comes after it. With E2E_GREP
  // the reload can be filtered out, so the first host also loads them (it never reaches them when it reloads).
  const afterReload = ['languageModels.e2e.js', 'agent.e2e.js', 'settings.e2e.js', 'chatView.e2e.js'];
  // The Restricted-Mode phase never reloads: it runs them after the main suite.
  const reloads = process.env.E2E_PHASE !== 'untrusted' && !grep;
  const files = marker ? ['reload.e2e.js', ...afterReload] : ['extension.e2e.js', ...(reloads ? [] : afterReload)];
  for (const file of files) mocha.addFile(path.join(__dirname, file));
  const earlier = marker?.results ?? { passed: 0, failed: 0, failures: [] };
  // The host that reloaded never printed its failures: print them here.
  for (const f of earlier.failures) console.log(`before the reload: ${f}`);
  const failures: string[] = [];
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failed) => {
      const passedAll = earlier.passed + runner.stats!.passes;
      const failedAll = earlier.failed + failed;
      console.log(`E2E:RESULT passed=${passedAll} failed=${failedAll}`);
      if (failedAll > 0) reject(new Error(`${failedAll} e2e test(s) failed`));
      else resolve();
    });
    runner.on('fail', (test, err: Error) => failures.push(`${test.fullTitle()}: ${err.message}`));
    // What the reload test records before the window goes away.
    (globalThis as { e2eResultsSoFar?: () => ReloadMarker['results'] }).e2eResultsSoFar = () => ({ passed: runner.stats?.passes ?? 0, failed: runner.stats?.failures ?? 0, failures: [...failures] });
  });
}
