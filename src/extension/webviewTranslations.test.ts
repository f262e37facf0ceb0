/**
 * The report's texts exist twice in English: ENGLISH_REPORT_STRINGS (what the CLI writes) and the
 * literal vscode.l10n.t keys the extension translates. Where they differ, a translation would be
 * looked up under a key the CLI's page never had, so they must match, text for text.
 */
import '../../test/fakeVscode';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENGLISH_REPORT_STRINGS } from '../shared/reportStrings';
import { reportStrings } from './webviewTranslations';

describe('report translations', () => {
  it("untranslated, the extension's report texts are the CLI's English, key for key", () => {
    assert.deepEqual(reportStrings(), ENGLISH_REPORT_STRINGS);
  });
});
