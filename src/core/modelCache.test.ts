import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultCacheDir, type CacheHome } from './modelCache';

const linux = (env: NodeJS.ProcessEnv = {}, over: Partial<CacheHome> = {}): CacheHome => ({ platform: 'linux', env, homedir: '/home/ada', tmpdir: '/tmp', exists: () => false, ...over });
const windows = (env: NodeJS.ProcessEnv = {}, over: Partial<CacheHome> = {}): CacheHome => ({ platform: 'win32', env, homedir: 'C:\\Users\\Ada', tmpdir: 'C:\\Users\\Ada\\AppData\\Local\\Temp', exists: () => false, ...over });
const mac = (env: NodeJS.ProcessEnv = {}, over: Partial<CacheHome> = {}): CacheHome => ({ platform: 'darwin', env, homedir: '/Users/ada', tmpdir: '/var/folders/x/T', exists: () => false, ...over });

describe('the CLI\'s default model cache on each platform', () => {
  it('Windows: %LOCALAPPDATA% (not the roaming profile), with Windows separators', () => {
    assert.equal(defaultCacheDir(windows({ LOCALAPPDATA: 'C:\\Users\\Ada\\AppData\\Local', APPDATA: 'C:\\Users\\Ada\\AppData\\Roaming' })), 'C:\\Users\\Ada\\AppData\\Local\\attention-prompting\\models');
    assert.equal(defaultCacheDir(windows()), 'C:\\Users\\Ada\\AppData\\Local\\attention-prompting\\models', 'without LOCALAPPDATA: where it is by default');
    assert.equal(defaultCacheDir(windows({ LOCALAPPDATA: '\\\\server\\share\\Ada' })), '\\\\server\\share\\Ada\\attention-prompting\\models', 'a UNC profile');
    assert.equal(defaultCacheDir(windows({ XDG_CACHE_HOME: 'D:\\cache', LOCALAPPDATA: 'C:\\L' })), 'D:\\cache\\attention-prompting\\models', 'an explicit XDG_CACHE_HOME wins');
  });

  it('macOS: ~/Library/Caches (out of Time Machine backups), or the ~/.cache folder earlier versions filled', () => {
    assert.equal(defaultCacheDir(mac()), '/Users/ada/Library/Caches/attention-prompting/models');
    const earlier = '/Users/ada/.cache/attention-prompting/models';
    assert.equal(defaultCacheDir(mac({}, { exists: (d) => d === earlier })), earlier, 'no second download of what is cached');
    assert.equal(defaultCacheDir(mac({ XDG_CACHE_HOME: '/Volumes/big/cache' })), '/Volumes/big/cache/attention-prompting/models');
  });

  it('Linux: $XDG_CACHE_HOME, else ~/.cache; a relative XDG_CACHE_HOME is ignored, as the XDG spec says', () => {
    assert.equal(defaultCacheDir(linux({ XDG_CACHE_HOME: '/srv/cache' })), '/srv/cache/attention-prompting/models');
    assert.equal(defaultCacheDir(linux()), '/home/ada/.cache/attention-prompting/models');
    assert.equal(defaultCacheDir(linux({ XDG_CACHE_HOME: 'cache' })), '/home/ada/.cache/attention-prompting/models', 'not a folder relative to wherever the CLI runs');
    assert.equal(defaultCacheDir(windows({ XDG_CACHE_HOME: 'cache', LOCALAPPDATA: 'C:\\L' })), 'C:\\L\\attention-prompting\\models');
  });

  it('without a home folder (a service account), the temp folder', () => {
    assert.equal(defaultCacheDir(linux({}, { homedir: '' })), '/tmp/attention-prompting/models');
    assert.equal(defaultCacheDir(mac({}, { homedir: '' })), '/var/folders/x/T/attention-prompting/models');
    assert.equal(defaultCacheDir(windows({}, { homedir: '' })), 'C:\\Users\\Ada\\AppData\\Local\\Temp\\attention-prompting\\models');
  });
});
