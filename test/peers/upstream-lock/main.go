// Command upstream-lock takes part in leader election exactly as aad-pod-identity v1.8.x's MIC does,
// and does nothing else: client-go v0.23's leaderelection with an Endpoints lock
// (resourcelock.EndpointsResourceLock), LeaseDuration = --leader-election-duration, RenewDeadline = half
// of it, RetryPeriod = a quarter (upstream pkg/mic/mic.go NewLeaderElector), no ReleaseOnCancel, and
// os.Exit(1) on a lost lease. The flags carry upstream MIC's names and defaults.
//
// It prints one JSON line per transition on stdout, for tests:
//
//	{"event":"leading","identity":"…","at":"…"}   OnStartedLeading
//	{"event":"new-leader","leader":"…","at":"…"}  OnNewLeader
//	{"event":"lost","identity":"…","at":"…"}      OnStoppedLeading (then exit 1, as upstream)
//	{"event":"released","at":"…"}                 after SIGTERM with --release-on-cancel (upstream never releases)
//
// Without --release-on-cancel, SIGTERM ends the process at once, as it ends upstream's MIC (which
// installs no signal handler): the lock stays until it expires.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func emit(fields map[string]string) {
	fields["at"] = time.Now().UTC().Format(time.RFC3339Nano)
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "Path to a kubeconfig file")
	hostname, _ := os.Hostname()
	instance := flag.String("leader-election-instance", hostname, "leader election instance name")
	namespace := flag.String("leader-election-namespace", "default", "namespace of the Endpoints lock")
	name := flag.String("leader-election-name", "aad-pod-identity-mic", "name of the Endpoints lock")
	duration := flag.Duration("leader-election-duration", 15*time.Second, "lease duration")
	releaseOnCancel := flag.Bool("release-on-cancel", false, "release the lock on SIGTERM (client-go's ReleaseOnCancel; upstream MIC does not set it)")
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-lock: kubeconfig: %v\n", err)
		os.Exit(2)
	}
	clientSet, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-lock: client: %v\n", err)
		os.Exit(2)
	}
	lock, err := resourcelock.New(resourcelock.EndpointsResourceLock, *namespace, *name, clientSet.CoreV1(), clientSet.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: *instance})
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-lock: lock: %v\n", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *duration,
		RenewDeadline:   *duration / 2,
		RetryPeriod:     *duration / 4,
		ReleaseOnCancel: *releaseOnCancel,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { emit(map[string]string{"event": "leading", "identity": *instance}) },
			OnStoppedLeading: func() {
				if ctx.Err() != nil {
					return
				}
				emit(map[string]string{"event": "lost", "identity": *instance})
				os.Exit(1)
			},
			OnNewLeader: func(leader string) { emit(map[string]string{"event": "new-leader", "leader": leader}) },
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream-lock: elector: %v\n", err)
		os.Exit(2)
	}
	if *releaseOnCancel {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		go func() {
			<-signals
			cancel()
		}()
	}
	emit(map[string]string{"event": "started", "identity": *instance})
	elector.Run(ctx)
	if *releaseOnCancel {
		emit(map[string]string{"event": "released"})
	}
}
