// Package deploy holds deployment material, not Go code: the image recipe
// (image.sh with local/*.Containerfile, and Containerfile for builders
// that reach Docker Hub), the compose stack and the systemd unit. Its
// tests build the images, run them with podman and podman-compose, and
// verify the unit; it imports nothing of the server but test helpers.
package deploy
