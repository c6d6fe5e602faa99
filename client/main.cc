// crossbridge-cli: see client/cli.h for commands, flags and exit codes.
#include <iostream>

#include "client/cli.h"

int main(int argc, char** argv) {
  return crossbridge::RunCli(argc, argv, std::cout, std::cerr);
}
