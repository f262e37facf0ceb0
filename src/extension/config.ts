/** Reads the extension's settings into the engine's and the VLM client's parameter types. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { VlmSettings } from '../core/vlm';
import { DEFAULT_VLM_SETTINGS } from '../core/vlm';
import type { Interpolation, ModelParameters, ViewParameters } from '../shared/protocol';

export const SECTION = 'attentionPrompting';

function cfg(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

export function modelParameters(context: vscode.ExtensionContext): ModelParameters {
  const c = cfg();
  const cacheDir = c.get<string>('modelCacheDir')?.trim() || path.join(context.globalStorageUri.fsPath, 'models');
  const threads = c.get<number>('engine.threads') ?? 0;
  return {
    model: c.get<string>('model') || 'Xenova/clip-vit-large-patch14-336',
    dtype: c.get<'fp32' | 'fp16'>('dtype') ?? 'fp32',
    revision: c.get<string>('revision') || undefined,
    cacheDir,
    geometry: c.get<'full' | 'reference'>('geometry') ?? 'full',
    threads: threads > 0 ? threads : undefined,
  };
}

export function defaultView(): ViewParameters {
  const c = cfg();
  const layer = c.get<number | null>('layer');
  return {
    contrast: c.get<number>('contrast') ?? 5,
    kernel: c.get<number>('kernel') ?? 3,
    gray: c.get<number>('gray') ?? 0,
    interpolation: c.get<Interpolation>('interpolation') ?? 'lanczos3',
    layer: typeof layer === 'number' ? layer : null,
    opacity: c.get<number>('overlayOpacity') ?? 0.5,
    hint: '',
  };
}

export function previewMaxSide(): number {
  return cfg().get<number>('previewMaxSide') ?? 1600;
}

export function idleMs(): number {
  return Math.max(0, (cfg().get<number>('engine.idleMinutes') ?? 10) * 60_000);
}

export interface VlmConfig extends Omit<VlmSettings, 'apiKey'> {
  compareWithOriginal: boolean;
  maxImageSide: number;
  imageFormat: 'auto' | 'png' | 'jpeg';
}

/**
 * VLM settings are application-scoped in package.json, so a workspace cannot redirect the key
 * to another host; `inspect` is used to read only the user (global) values to be sure.
 */
export function vlmConfig(): VlmConfig {
  const c = cfg();
  const user = <T>(key: string, fallback: T): T => {
    const v = c.inspect<T>(key);
    return (v?.globalValue ?? v?.defaultValue ?? fallback) as T;
  };
  return {
    baseURL: user('vlm.baseURL', DEFAULT_VLM_SETTINGS.baseURL),
    model: user('vlm.model', DEFAULT_VLM_SETTINGS.model),
    imageDetail: user('vlm.imageDetail', DEFAULT_VLM_SETTINGS.imageDetail),
    maxTokens: user('vlm.maxTokens', DEFAULT_VLM_SETTINGS.maxTokens),
    temperature: user('vlm.temperature', DEFAULT_VLM_SETTINGS.temperature),
    systemPrompt: user('vlm.systemPrompt', DEFAULT_VLM_SETTINGS.systemPrompt),
    timeoutMs: user('vlm.timeoutSeconds', DEFAULT_VLM_SETTINGS.timeoutMs / 1000) * 1000,
    maxRetries: user('vlm.maxRetries', DEFAULT_VLM_SETTINGS.maxRetries),
    compareWithOriginal: user('vlm.compareWithOriginal', true),
    maxImageSide: user('vlm.maxImageSide', 2048),
    imageFormat: user('vlm.imageFormat', 'auto' as const),
  };
}
