// Where every bench script keeps its generated models and inputs (outside the repository, reused
// between runs and worktrees): ATTENTION_PROMPT_BENCH_DIR, else ~/.cache/attention-prompting/bench.
import * as os from 'node:os';
import * as path from 'node:path';

export const benchCacheDir = process.env.ATTENTION_PROMPT_BENCH_DIR ?? path.join(os.homedir(), '.cache', 'attention-prompting', 'bench');
