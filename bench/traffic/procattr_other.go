//go:build !linux

package main

import "syscall"

// childAttr: no parent-death signal outside Linux; env.close stops the
// processes.
func childAttr() *syscall.SysProcAttr { return nil }
