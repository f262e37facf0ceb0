/**
 * API keys per endpoint host, in VS Code's SecretStorage (the OS keychain on desktop).
 * OPENAI_API_KEY is the fallback. Keys are never logged, shown or put in settings.
 */
import type * as vscode from 'vscode';

export class ApiKeys {
  constructor(private readonly secrets: vscode.SecretStorage, private readonly env: NodeJS.ProcessEnv = process.env) {}

  private static id(host: string): string {
    return `attentionPrompting.apiKey/${host}`;
  }

  async get(host: string): Promise<{ key: string; source: 'secret-storage' | 'environment' } | undefined> {
    const stored = await this.secrets.get(ApiKeys.id(host));
    if (stored) return { key: stored, source: 'secret-storage' };
    const env = this.env.OPENAI_API_KEY?.trim();
    return env ? { key: env, source: 'environment' } : undefined;
  }

  set(host: string, key: string): Thenable<void> {
    return this.secrets.store(ApiKeys.id(host), key.trim());
  }

  clear(host: string): Thenable<void> {
    return this.secrets.delete(ApiKeys.id(host));
  }
}
