import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  commandsWithOption,
  commandUsage,
  findCommand,
  GENERAL_USAGE,
  optionNamed,
  optionSpec,
  parseOptionsOf,
  type Command,
  type CommandContext,
  type OptionValues,
} from './commands.js';

/** Exit status for a command line that could not be understood, as for an invalid config. */
const USAGE_ERROR = 2;

/**
 * `mta-sts-server COMMAND [options]`: the command's own options and --help; --version and help
 * without one. Returns the exit status; never throws. main.ts runs it with the process itself as
 * the context, tests with streams of their own.
 */
export async function runCli(argv: readonly string[], context: CommandContext): Promise<number> {
  try {
    return await dispatch(argv, context);
  } catch (error) {
    // A bug, or a failure no command turned into a message: one line, never a stack trace.
    context.stderr.write(`mta-sts-server: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

async function dispatch(argv: readonly string[], context: CommandContext): Promise<number> {
  const [first, ...rest] = argv;
  const print = (text: string) => (context.stdout.write(text), 0);
  const refuse = (who: string, problem: string, command?: Command) => {
    // One line naming what is wrong and where help is; not the whole usage text.
    const help = command ? `mta-sts-server ${command.name} --help` : 'mta-sts-server --help';
    context.stderr.write(`${who}: ${problem} (see ${help})\n`);
    return USAGE_ERROR;
  };
  if (first === undefined || first === '--help' || first === '-h') return print(GENERAL_USAGE);
  if (first === '--version' && rest.length === 0) return print(`mta-sts-server ${packageVersion()}\n`);
  if (first === 'help') {
    if (rest.length === 0) return print(GENERAL_USAGE);
    const command = findCommand(rest[0]!);
    if (!command) return refuse('mta-sts-server help', `unknown command ${rest[0]}`);
    if (rest.length > 1) return refuse('mta-sts-server help', `unexpected argument ${rest[1]}`);
    return print(commandUsage(command));
  }
  if (first.startsWith('-'))
    return refuse('mta-sts-server', `no command before ${first}: options follow the command, mta-sts-server COMMAND [options]`);
  const command = findCommand(first);
  if (!command) return refuse('mta-sts-server', `unknown command ${first}`);
  const parsed = parseCommandLine(command, rest);
  if ('problem' in parsed) return refuse(`mta-sts-server ${command.name}`, parsed.problem, command);
  if (parsed.values.help) return print(commandUsage(command));
  return command.run(parsed.values, context, parsed.args);
}

/**
 * The command's options, or the first thing wrong with the command line. Parsing is lenient so
 * that each problem can be named: an option of another command, a value missing, an argument too many.
 */
function parseCommandLine(command: Command, args: string[]): { values: OptionValues; args: string[] } | { problem: string } {
  const { values, tokens } = parseArgs({
    args,
    options: parseOptionsOf(command),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  // --help wins over any other problem: it is how one finds out what went wrong.
  if (values.help === true) return { values: { help: true }, args: [] };
  const own = new Set<string>([...command.options, 'help']);
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      if (command.arguments === undefined) return { problem: `unexpected argument ${token.value}` };
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const { name, rawName, value, inlineValue } = token;
    if (!own.has(name)) {
      const option = optionNamed(name);
      const others = option === undefined ? [] : commandsWithOption(option);
      return {
        problem:
          others.length > 0
            ? `${rawName} is an option of ${others.join(', ')}, not of ${command.name}`
            : `unknown option ${rawName}`,
      };
    }
    const spec = optionSpec(name as keyof OptionValues);
    // A string option followed by another option ("--domain --json") is missing its value.
    if (spec.type === 'string' && (value === undefined || (!inlineValue && value.startsWith('-')))) {
      return { problem: `${rawName} needs a value: ${rawName} ${spec.value}` };
    }
    if (spec.type === 'boolean' && inlineValue) return { problem: `${rawName} takes no value` };
  }
  return { values: values as OptionValues, args: positionals };
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}
