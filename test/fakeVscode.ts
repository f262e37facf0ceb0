/**
 * A stand-in for the `vscode` module, for unit tests of extension code that reads settings (and
 * asks a warning question: `warnings`).
 * Import it before the module under test: it answers `require('vscode')` with this object.
 * `get` layers the values as VS Code does (workspace over user over package.json's default);
 * `inspect` shows each layer apart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Module = require('node:module');
import { ROOT } from './helpers';

/** Every registered setting, from package.json's titled sections (the renamed keys' section too). */
const properties: Record<string, { default?: unknown }> = Object.assign(
  {},
  ...(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).contributes.configuration as Array<{ properties: object }>).map((s) => s.properties),
);

/**
 * The user and workspace layers. `update` writes them as VS Code does, refusing a key that is not
 * registered; `refuseWrite` makes a write fail as VS Code's does when settings.json has errors.
 */
export const settings = {
  user: {} as Record<string, unknown>,
  workspace: {} as Record<string, unknown>,
  refuseWrite: undefined as ((key: string) => boolean) | undefined,
};

/** What `window.showWarningMessage` was asked; `answer` picks the button the user "clicks" (undefined: Cancel). */
export const warnings = {
  asked: [] as Array<{ message: string; options: { modal?: boolean; detail?: string }; buttons: string[] }>,
  answer: undefined as ((buttons: string[]) => string | undefined) | undefined,
};

const fake = {
  // As VS Code's: a placeholder without an argument stays as written.
  l10n: { t: (text: string, ...args: unknown[]) => text.replace(/\{(\d+)\}/g, (m, i: string) => (Number(i) < args.length ? String(args[Number(i)]) : m)) },
  env: { language: 'en' },
  window: {
    showWarningMessage: async (message: string, options: { modal?: boolean; detail?: string }, ...buttons: string[]) => {
      warnings.asked.push({ message, options, buttons });
      return warnings.answer?.(buttons);
    },
  },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  workspace: {
    /** Tests that need Restricted Mode set it false. */
    isTrusted: true,
    getConfiguration(section: string) {
      const full = (key: string) => `${section}.${key}`;
      return {
        get: (key: string) => settings.workspace[full(key)] ?? settings.user[full(key)] ?? properties[full(key)]?.default,
        inspect: (key: string) => ({ key: full(key), defaultValue: properties[full(key)]?.default, globalValue: settings.user[full(key)], workspaceValue: settings.workspace[full(key)] }),
        update: async (key: string, value: unknown, target: number) => {
          if (!(full(key) in properties)) throw new Error(`Unable to write to settings because ${full(key)} is not a registered configuration.`);
          if (settings.refuseWrite?.(full(key))) throw new Error('Unable to write into settings. Open the settings file to correct errors/warnings in it and try again.');
          const layer = target === 1 ? settings.user : target === 2 ? settings.workspace : undefined;
          if (!layer) throw new Error(`target ${target} is not faked`);
          if (value === undefined) delete layer[full(key)];
          else layer[full(key)] = value;
        },
      };
    },
  },
};

const resolve = (Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string })._resolveFilename;
(Module as unknown as { _resolveFilename: typeof resolve })._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: fake } as unknown as NodeJS.Module;
