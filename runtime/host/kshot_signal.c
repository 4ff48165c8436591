/* kshot_signal.c: Ctrl-C for the host. While a statement runs, SIGINT calls
 * kshot_interrupt (Lua hook + kernel flag); at the REPL prompt it only sets a
 * flag that the line reader checks. No SA_RESTART: a blocking read returns
 * EINTR so the prompt (or io.read in a script) reacts at once. */
#include "kshot_host.h"

#include <signal.h>
#include <string.h>

static kshot_state *volatile g_state;
static volatile sig_atomic_t g_got_sigint;

static void on_sigint_run(int sig)
{
    (void)sig;
    g_got_sigint = 1;
    kshot_state *s = g_state;
    if (s) kshot_interrupt(s);
}

static void on_sigint_prompt(int sig)
{
    (void)sig;
    g_got_sigint = 1;
}

static void install(void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* SA_RESETHAND: a second Ctrl-C, if the first could not stop the code (a
 * C function that never returns), terminates the process as lua.c does. */
void kshot_sigint_run(kshot_state *s)
{
    g_state = s;
    install(on_sigint_run, SA_RESETHAND);
}

void kshot_sigint_prompt(kshot_state *s)
{
    g_state = s;
    install(on_sigint_prompt, 0);
}

void kshot_sigint_default(void)
{
    install(SIG_DFL, 0);
    g_state = NULL;
}

int kshot_sigint_take(void)
{
    int got = g_got_sigint;
    g_got_sigint = 0;
    return got;
}

int kshot_sigint_pending(void) { return g_got_sigint; }
