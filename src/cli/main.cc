// hubgate command line: placeholder until app/ is wired.
int main() { return 0; }
