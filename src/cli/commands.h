/* commands.h: the subcommands of the `afloc` tool, one file each. Each returns a process exit
 * status (0 success, 1 failure, 2 usage error). */
#ifndef AFLOC_CLI_COMMANDS_H
#define AFLOC_CLI_COMMANDS_H

int afloc_cli_demo(int argc, char **argv);
int afloc_cli_demo_inputs(const char *directory); /* demo_inputs.c: `afloc demo --inputs DIR` */
int afloc_cli_localize(int argc, char **argv);
int afloc_cli_classify(int argc, char **argv);
int afloc_cli_embed(int argc, char **argv);
int afloc_cli_init(int argc, char **argv);
int afloc_cli_train(int argc, char **argv);
int afloc_cli_eval(int argc, char **argv);
int afloc_cli_synth(int argc, char **argv);

#endif /* AFLOC_CLI_COMMANDS_H */
