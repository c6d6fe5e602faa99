// crossbridge-cli: see cli/cli.h for commands, flags and exit codes.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  return crossbridge::RunCli(argc, argv, std::cout, std::cerr);
}
