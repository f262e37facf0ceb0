/**
 * extensionTestsPath entry (the contract @vscode/test-electron uses): runs the mocha suite in the
 * extension host and prints a sentinel line the driver checks, because a crashed extension host
 * would still report exit code 0.
 */
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', timeout: 120_000, color: false, reporter: 'spec' });
  mocha.addFile(path.join(__dirname, 'extension.e2e.js'));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      const total = mocha.suite.total();
      console.log(`E2E:RESULT passed=${total - failures} failed=${failures}`);
      if (failures > 0) reject(new Error(`${failures} e2e test(s) failed`));
      else resolve();
    });
  });
}
