/** The `attention-prompt` executable. */
import { main } from './main';

process.on('SIGINT', () => {
  process.stderr.write('\nattention-prompt: interrupted\n');
  process.exit(130);
});
main(process.argv.slice(2)).then((code) => process.exit(code));
