package smtp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/smtp"
)

// A mail the server accepted is sent, even when the connection breaks
// afterwards (at RSET or QUIT): reporting a failure would make the reactor
// send it again, a duplicate. Mailpit cannot break a connection after
// accepting, so a scripted server plays that part.
func TestAcceptedMailIsSentWhenTheGoodbyeFails(t *testing.T) {
	t.Parallel()
	for name, afterAccept := range map[string]string{
		"connection dropped": "",
		"RSET refused":       "421 4.3.2 shutting down\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := startScriptedSMTP(t, afterAccept)
			m, err := smtp.New(smtp.Config{URL: fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.port), From: sender, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Send(context.Background(), sample("ann@example.test", "invitation-once-g1")); err != nil {
				t.Fatalf("the server accepted the mail, Send answered %v", err)
			}
			if n := srv.accepted(); n != 1 {
				t.Fatalf("server accepted %d mails, want 1", n)
			}
		})
	}
}

// A server that breaks the connection before it accepted the mail: a
// transient failure, so the mail is tried again.
func TestMailNotAcceptedIsATransientFailure(t *testing.T) {
	t.Parallel()
	srv := startScriptedSMTP(t, "")
	srv.dropBeforeAccept = true
	m, err := smtp.New(smtp.Config{URL: fmt.Sprintf("smtp://127.0.0.1:%d?starttls=none", srv.port), From: sender, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), sample("ann@example.test", "invitation-lost-g1")); err == nil {
		t.Fatal("a mail the server never accepted counts as sent")
	}
	if n := srv.accepted(); n != 0 {
		t.Fatalf("server accepted %d mails, want 0", n)
	}
}

// scriptedSMTP accepts mail like any server, then answers the next command
// after an accepted mail with afterAccept and hangs up ("" hangs up at
// once).
type scriptedSMTP struct {
	port             int
	afterAccept      string
	dropBeforeAccept bool // hang up at the end of the data instead of accepting

	mu    sync.Mutex
	count int
}

func (s *scriptedSMTP) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func startScriptedSMTP(t *testing.T, afterAccept string) *scriptedSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedSMTP{port: ln.Addr().(*net.TCPAddr).Port, afterAccept: afterAccept}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(conn) })
		}
	})
	return s
}

func (s *scriptedSMTP) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	say := func(line string) { _, _ = conn.Write([]byte(line)) }
	say("220 scripted.test ESMTP\r\n")
	accepted := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if accepted {
			say(s.afterAccept)
			return
		}
		switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
		case "EHLO", "HELO":
			say("250 scripted.test\r\n")
		case "MAIL", "RCPT", "RSET", "NOOP":
			say("250 2.0.0 ok\r\n")
		case "DATA":
			say("354 go ahead\r\n")
			for {
				data, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if data == ".\r\n" {
					break
				}
			}
			if s.dropBeforeAccept {
				return
			}
			s.mu.Lock()
			s.count++
			s.mu.Unlock()
			say("250 2.0.0 queued\r\n")
			accepted = true
		case "QUIT":
			say("221 bye\r\n")
			return
		default:
			say("500 5.5.2 unknown command\r\n")
		}
	}
}
