//go:build windows

package update

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// prepareStop arranges how a child is asked to stop. Windows has no
// SIGTERM for a console-less service child: the loader holds the child's
// stdin and closes it, and the child (ChildContext) drains on EOF.
func prepareStop(cmd *exec.Cmd) (func() error, error) {
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	return w.Close, nil
}

// ChildContext is ctx in a child, cancelled when the loader closes the
// child's stdin.
func ChildContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx, cancel
}

// killJob is a job object that kills its processes when its last handle
// closes: when the loader dies, however it dies, so that an orphaned
// child never holds the store while the next loader starts another.
var killJob = sync.OnceValues(func() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, err
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	return job, nil
})

// afterStart puts the child in the loader's kill-on-close job.
func afterStart(cmd *exec.Cmd) error {
	job, err := killJob()
	if err != nil {
		return err
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	return windows.AssignProcessToJobObject(job, h)
}
