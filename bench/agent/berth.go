package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// berth launches tasks through the ECS API and waits for them with one
// shared poller.
type berth struct {
	ecs     *ecs.Client
	cluster string
	td      string // task definition ARN
	taskTO  time.Duration
	poll    *poller

	mu       sync.Mutex
	launched []string // every task ARN not stopped yet
}

// registerTD registers the one-container bridge task definition.
func (b *berth) registerTD(ctx context.Context, image string, cmd []string, memMiB int32) error {
	out, err := b.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:      aws.String("bench-agent"),
		NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:        aws.String("app"),
			Image:       aws.String(image),
			Command:     cmd,
			Memory:      aws.Int32(memMiB),
			Cpu:         0,
			Essential:   aws.Bool(true),
			StopTimeout: aws.Int32(2),
		}},
	})
	if err != nil {
		return fmt.Errorf("RegisterTaskDefinition: %w", err)
	}
	b.td = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	return nil
}

// runTask calls RunTask for count tasks and records their ARNs for stopAll.
func (b *berth) runTask(ctx context.Context, count int) ([]string, error) {
	out, err := b.ecs.RunTask(ctx, &ecs.RunTaskInput{
		Cluster: aws.String(b.cluster), TaskDefinition: aws.String(b.td),
		Count: aws.Int32(int32(count)), StartedBy: aws.String("bench-agent"),
	})
	if err != nil {
		return nil, fmt.Errorf("RunTask: %w", err)
	}
	arns := make([]string, 0, len(out.Tasks))
	for _, t := range out.Tasks {
		arns = append(arns, aws.ToString(t.TaskArn))
	}
	b.mu.Lock()
	b.launched = append(b.launched, arns...)
	b.mu.Unlock()
	if len(out.Failures) > 0 {
		f := out.Failures[0]
		return arns, fmt.Errorf("RunTask: %d of %d not placed: %s %s", count-len(arns), count, aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	return arns, nil
}

// launch is one measured RunTask (count 1) → RUNNING.
func (b *berth) launch(ctx context.Context) result {
	r := result{Begin: time.Now()}
	arns, err := b.runTask(ctx, 1)
	if err != nil {
		r.Err = err
		return r
	}
	r.ID = arns[0]
	b.wait(ctx, &r)
	return r
}

// wait fills r from the poller's first RUNNING observation of r.ID.
func (b *berth) wait(ctx context.Context, r *result) {
	o := b.poll.wait(ctx, r.ID, b.taskTO)
	if o.err != nil {
		r.Err = o.err
		return
	}
	r.Client = o.at.Sub(r.Begin)
	r.Created, r.Started, r.ContainerID = o.created, o.started, o.containerID
	r.Server = o.started.Sub(o.created)
}

// burst launches total tasks with concurrent RunTask calls of per tasks
// each, all begun at once, and waits until every one is RUNNING. Each
// result's Client is measured from the burst's start.
func (b *berth) burst(ctx context.Context, total, per int) ([]result, time.Duration) {
	began := time.Now()
	var mu sync.Mutex
	var out []result
	var wg sync.WaitGroup
	for left := total; left > 0; left -= per {
		n := min(per, left)
		wg.Add(1)
		go func() {
			defer wg.Done()
			arns, err := b.runTask(ctx, n)
			if err != nil {
				mu.Lock()
				for range n - len(arns) {
					out = append(out, result{Begin: began, Err: err})
				}
				mu.Unlock()
			}
			var inner sync.WaitGroup
			for _, arn := range arns {
				inner.Add(1)
				go func() {
					defer inner.Done()
					r := result{Begin: began, ID: arn}
					b.wait(ctx, &r)
					mu.Lock()
					out = append(out, r)
					mu.Unlock()
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	var last time.Duration
	for _, r := range out {
		if r.Err == nil {
			last = max(last, r.Client)
		}
	}
	return out, last
}

// stopAll stops every launched task (8 StopTask calls at a time) and waits
// up to timeout until all are STOPPED. It returns how many did not stop.
func (b *berth) stopAll(ctx context.Context, timeout time.Duration) (int, error) {
	b.mu.Lock()
	arns := b.launched
	b.launched = nil
	b.mu.Unlock()
	if len(arns) == 0 {
		return 0, nil
	}
	var firstErr error
	var emu sync.Mutex
	forEach(ctx, arns, 8, func(ctx context.Context, arn string) {
		_, err := b.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(b.cluster), Task: aws.String(arn), Reason: aws.String("bench done")})
		if err != nil {
			emu.Lock()
			firstErr = firstOf(firstErr, fmt.Errorf("StopTask: %w", err))
			emu.Unlock()
		}
	})
	deadline := time.Now().Add(timeout)
	for {
		left := 0
		for i := 0; i < len(arns); i += 100 {
			out, err := b.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(b.cluster), Tasks: arns[i:min(i+100, len(arns))]})
			if err != nil {
				return len(arns), fmt.Errorf("DescribeTasks: %w", err)
			}
			for _, t := range out.Tasks {
				if aws.ToString(t.LastStatus) != "STOPPED" {
					left++
				}
			}
		}
		if left == 0 || ctx.Err() != nil || time.Now().After(deadline) {
			if left > 0 {
				firstErr = firstOf(firstErr, fmt.Errorf("%d of %d tasks not STOPPED within %s", left, len(arns), timeout))
			}
			return left, firstErr
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firstOf keeps the first error.
func firstOf(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// waitConnected waits until the instance with ec2InstanceId id is
// registered in the cluster with agentConnected true.
func waitConnected(ctx context.Context, c *ecs.Client, cluster, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error = errors.New("not registered")
	for time.Now().Before(deadline) && ctx.Err() == nil {
		list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err == nil && len(list.ContainerInstanceArns) > 0 {
			out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: list.ContainerInstanceArns})
			if err == nil {
				for _, ci := range out.ContainerInstances {
					if aws.ToString(ci.Ec2InstanceId) == id {
						if ci.AgentConnected {
							return nil
						}
						last = errors.New("registered, agent not connected")
					}
				}
			} else {
				last = err
			}
		} else if err != nil {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("instance %s in cluster %s not agentConnected within %s: %v", id, cluster, timeout, last)
}
