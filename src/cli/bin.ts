/** The `attention-prompt` executable. */
import { interrupt, main } from './main';

process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
main(process.argv.slice(2)).then((code) => process.exit(code));
