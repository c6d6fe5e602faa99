// crossbridge-server: see server/server_main.h for flags and exit codes.
#include "server/server_main.h"

int main(int argc, char** argv) { return crossbridge::RunServerMain(argc, argv); }
