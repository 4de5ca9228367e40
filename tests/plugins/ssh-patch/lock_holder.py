"""Hold a lock on a file the way apt and dpkg do, for the ssh-patch lock-wait tests.

    lock_holder.py FILE READY [NEEDLE...]

Takes a write lock on all of FILE with fcntl (F_SETLK, what apt and dpkg take on lists/lock,
lock-frontend and lock; flock(1) would not do: on Linux flock() and fcntl() locks do not
conflict, so apt would never see it), then creates READY.

Without NEEDLEs it holds the lock until it is killed. With NEEDLEs it releases the lock once
it has held it for 2 s and a salve lock wait is seen waiting for it: a `sleep` whose parent's
command line (the package script) contains every NEEDLE. So the test does not depend on how
fast the script starts: the holder lets go only after the script has seen it and said so.
After 60 s it gives up and exits, so a broken test cannot leave it behind.

Run it through a link named unattended-upgrade: /proc/PID/comm then reads "unattended-upgr",
the name a real holder has.
"""
import fcntl
import os
import sys
import time


def waiter_seen(needles):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "sleep":
                    continue
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{ppid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, IndexError):
            continue
        if all(n.encode() in cmdline for n in needles):
            return True
    return False


def main():
    path, ready, needles = sys.argv[1], sys.argv[2], sys.argv[3:]
    lock = open(path, "a")
    fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    locked = time.monotonic()
    open(ready, "w").close()
    deadline = locked + 60
    while time.monotonic() < deadline:
        if needles and time.monotonic() - locked >= 2 and waiter_seen(needles):
            break
        time.sleep(0.1)
    lock.close()


main()
