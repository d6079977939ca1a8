package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

type keygenJSON struct {
	Name       string `json:"name"`
	PrivateKey string `json:"private_key_file"`
	PublicKey  string `json:"public_key_file"`
	Verifier   string `json:"verifier_key"`
}

func newKeygenCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen NAME [--out PREFIX]",
		Short: "Make an Ed25519 key pair for signing checkpoints",
		Long: `keygen makes an Ed25519 key pair in the signed-note format of
golang.org/x/mod/sumdb/note and writes PREFIX.key (the signer key, mode 0600:
keep it where only the ledger's operator can read it) and PREFIX.pub (the
verifier key: give it to auditors). NAME names the log, e.g.
"ledger.example.com/payments"; it becomes the origin line of every checkpoint
signed with the key. Existing files are never overwritten.`,
		Args: exactArgs(1, "NAME"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = "ledger"
			}
			if args[0] == "" || strings.ContainsAny(args[0], "+ \t\r\n") || !utf8.ValidString(args[0]) {
				return usagef("key name %q: a name is non-empty UTF-8 with no white space and no '+'", args[0])
			}
			skey, vkey, err := note.GenerateKey(rand.Reader, args[0])
			if err != nil {
				return usagef("key name %q: %v (a name has no spaces or '+')", args[0], err)
			}
			kf, pf := out+".key", out+".pub"
			for _, f := range []string{kf, pf} {
				if _, err := os.Stat(f); err == nil {
					return fmt.Errorf("%s exists; not overwriting a key", f)
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			if err := writeNew(kf, skey+"\n", 0o600); err != nil {
				return err
			}
			if err := writeNew(pf, vkey+"\n", 0o644); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(keygenJSON{Name: args[0], PrivateKey: kf, PublicKey: pf, Verifier: vkey})
			}
			fmt.Fprintf(a.stdout, "wrote %s (signer key: keep it secret) and %s (verifier key: give it to auditors)\n", kf, pf)
			fmt.Fprintf(a.stdout, "verifier key: %s\n", vkey)
			return nil
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "file name prefix of the key pair (default \"ledger\": ledger.key, ledger.pub)")
	return cmd
}

// writeNew creates a file that must not exist, writes data and syncs it.
func writeNew(name, data string, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
