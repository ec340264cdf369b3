// Package deploytest checks the deployment files at the repository root
// (docker-compose.yml, Dockerfile, README.md) against the portal's code, so
// that they cannot drift apart: it holds only tests.
package deploytest
