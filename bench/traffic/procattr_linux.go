package main

import "syscall"

// childAttr makes the kernel kill berth's processes if the benchmark dies
// without cleaning up (killed with SIGKILL): a backstop for env.close.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
