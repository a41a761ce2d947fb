// Package storage keeps the storage of removed units on disk, as Kubernetes keeps a
// removed pod's volumes: a unit's storage directories live in its pod and would go with
// the unit's directory, so before that is deleted the unit agent moves them here, unless
// the removal destroys the storage.
//
// Detached storage (remove-unit, scale-application, remove-application without
// --destroy-storage) stays under the controller's management in <home>/storage/<model>:
// destroy-model refuses to run until told to destroy or release it, and kill-controller
// deletes it. Released storage (destroy-model --release-storage) is out of the controller's
// hands in <home>/released-storage/<model> and is never deleted by jujulet.
package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is what a unit's removal does with its storage.
type Mode string

// The modes. Detach is the default, as in Juju.
const (
	Detach  Mode = ""
	Destroy Mode = "destroy"
	Release Mode = "release"
)

// DetachedDir holds a model's detached storage.
func DetachedDir(home, model string) string { return filepath.Join(home, "storage", model) }

// ReleasedDir holds a model's released storage.
func ReleasedDir(home, model string) string { return filepath.Join(home, "released-storage", model) }

// ID is Juju's storage id of a unit's storage instance, as jujulet numbers them
// (storage name / unit number).
func ID(name, unit string) string {
	return name + "/" + unit[strings.LastIndex(unit, "/")+1:]
}

// Keep moves src, the directory of unit's storage name, to dir/<unit-tag>/<name> and
// returns the new path. A path already taken (an application of the same name deployed
// again) gets a numbered suffix. A missing src is not an error: nothing to keep ("").
func Keep(src, dir, unit, name string) (string, error) {
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	tag := "unit-" + strings.ReplaceAll(unit, "/", "-")
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", fmt.Errorf("keeping storage %s: %w", ID(name, unit), err)
	}
	dst := filepath.Join(dir, tag)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = filepath.Join(dir, tag+"."+strconv.Itoa(i))
	}
	if err := os.MkdirAll(dst, 0o711); err != nil {
		return "", fmt.Errorf("keeping storage %s: %w", ID(name, unit), err)
	}
	dst = filepath.Join(dst, name)
	if err := os.Rename(src, dst); err != nil {
		return "", fmt.Errorf("keeping storage %s: %w", ID(name, unit), err)
	}
	return dst, nil
}

// Kept lists the storage directories kept under dir (dir/<unit-tag>/<name>).
func Kept(dir string) []string {
	var out []string
	units, _ := os.ReadDir(dir)
	for _, u := range units {
		ents, _ := os.ReadDir(filepath.Join(dir, u.Name()))
		for _, e := range ents {
			out = append(out, filepath.Join(dir, u.Name(), e.Name()))
		}
	}
	return out
}

// ReleaseDetached hands a model's detached storage over to its released directory and
// returns where each storage went.
func ReleaseDetached(home, model string) ([]string, error) {
	src := DetachedDir(home, model)
	dst := ReleasedDir(home, model)
	var out []string
	units, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("releasing storage: %w", err)
	}
	for _, u := range units {
		ents, err := os.ReadDir(filepath.Join(src, u.Name()))
		if err != nil {
			return out, fmt.Errorf("releasing storage: %w", err)
		}
		unit := unitOfTag(u.Name())
		for _, e := range ents {
			p, err := Keep(filepath.Join(src, u.Name(), e.Name()), dst, unit, e.Name())
			if err != nil {
				return out, err
			}
			out = append(out, p)
		}
	}
	return out, os.RemoveAll(src)
}

// DestroyDetached deletes a model's detached storage.
func DestroyDetached(home, model string) error {
	if err := os.RemoveAll(DetachedDir(home, model)); err != nil {
		return fmt.Errorf("destroying storage: %w", err)
	}
	return nil
}

// unitOfTag turns "unit-db1-0" (or "unit-db1-0.1") back into "db1/0".
func unitOfTag(tag string) string {
	s := strings.TrimPrefix(tag, "unit-")
	s, _, _ = strings.Cut(s, ".")
	i := strings.LastIndex(s, "-")
	if i < 0 {
		return s
	}
	return s[:i] + "/" + s[i+1:]
}
