// Command charmpack packs a built charm directory into a .charm archive (see internal/charmpack).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/jujulet/postgresql-k8s/internal/charmpack"
)

func main() {
	out := flag.String("o", ".", "directory to write the .charm into")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: charmpack [-o DIR] CHARM_DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	path, err := charmpack.Pack(flag.Arg(0), *out, charmpack.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
